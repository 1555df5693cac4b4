#!/bin/sh
# Renders /etc/smoke/smoke.conf from the environment, then serves it over HTTP on HOST_IP:LISTEN_PORT.
set -eu # busybox sh; there is no pipeline here
: "${HOST_IP:?HOST_IP must be set (the pipeline sets it from the host the container runs on)}"
: "${LISTEN_PORT:=8180}"
render-ini /etc/smoke/smoke.conf DEFAULT "host_ip=$HOST_IP" "listen_port=$LISTEN_PORT" "greeting=${GREETING:-hello}"
cp /etc/smoke/smoke.conf /www/smoke.conf
if [ -d /data ]; then date -u +%Y-%m-%dT%H:%M:%SZ >>/data/starts; fi
# START_DELAY: seconds before the port opens, like a service that takes a while to come up (for gate tests).
sleep "${START_DELAY:-0}"
echo "smoke-web: serving /etc/smoke/smoke.conf on $HOST_IP:$LISTEN_PORT"
exec httpd -f -v -p "$HOST_IP:$LISTEN_PORT" -h /www
