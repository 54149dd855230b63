#!/bin/sh
# tests/mqtt.sh - the mqtt module (tests/mqtt/client.lua) against Debian's
# mosquitto (tests/lib/mosquitto.sh: anonymous, passwords, TLS) and the
# mosquitto_pub / mosquitto_sub clients on the other side, and against a
# misbehaving broker written in the test.
cd "$(dirname "$0")/.." || exit 2
NETMCU=${NETMCU:-build/netmcu}
exec sh tests/lib/mosquitto.sh "$NETMCU" tests/mqtt/client.lua
