// Plain TCP conversations with a service, as its clients would have them (Redis, memcached, Thrift, ZooKeeper's words).
import * as net from 'net';

/** Resolves with what the server at host:port sent (until it closes, `until` matches, or the time is up); rejects if it
 *  refuses. `send` null: only connect. */
export function talk(host: string, port: number, send: string | Buffer | null, until?: RegExp, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = net.connect({ host, port });
    const finish = () => {
      socket.destroy();
      resolve(received);
    };
    socket.setTimeout(timeoutMs, finish);
    socket.once('connect', () => {
      if (send !== null) socket.write(send);
      else finish();
    });
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (until?.test(received)) finish();
    });
    socket.once('end', finish);
    socket.once('error', reject);
  });
}

/** Thrift's describe_version call over the framed binary protocol, as pycassa asks it first. */
export function thriftDescribeVersion(): Buffer {
  const call = Buffer.from('\x80\x01\x00\x01\x00\x00\x00\x10describe_version\x00\x00\x00\x01\x00', 'latin1');
  return Buffer.concat([Buffer.from([0, 0, 0, call.length]), call]);
}
