// Docker's multiplexed output (logs, exec without a TTY): 8-byte frame headers, then the bytes. Pure: no engine needed.

/** Docker multiplexes stdout/stderr with an 8-byte header per frame (no TTY): the text of the whole frames, and the
 * bytes of a partial last frame (for a stream that delivers more later). */
export function demuxFrames(buf: Buffer): { text: string; rest: Buffer } {
  let text = '';
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    if (i + 8 + size > buf.length) break;
    text += buf.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return { text, rest: buf.subarray(i) };
}

/** Complete log output: demultiplexed, or as it is when the container had a TTY (no frames). */
export function demuxLogs(buf: Buffer): string {
  return demuxFrames(buf).text || buf.toString();
}
