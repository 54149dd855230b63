#!/bin/sh
# tests/apps.sh - NodeMCU programs (tests/apps/) doing their job on the
# host: a telnet console over node.output/node.input in both of its forms,
# driven by a socket client; a web page switching a relay on a gpio pin,
# driven by curl and watched through the gpio channel; a web server for
# the files of the flash; a serial bridge between a TCP client and uart 0
# on standard input and output.
cd "$(dirname "$0")/.." || exit 2
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
tmp=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
port_of() { sed -n 's/^ready \([0-9]*\).*/\1/p' "$1" | head -1; }
finish() { # finish NAME WANT: the program ends by itself with status WANT
  if wait_exit "$pid" 10; then check "$1" [ "$status" -eq "$2" ]; else nok "$1 (still running)"; kill "$pid"; fi
  pid=""
}

# ---- telnet, both forms ----
for form in strings pipe; do
  $NM tests/apps/telnet_$form.lua 0 >"$tmp/out" 2>"$tmp/err" </dev/null &
  pid=$!
  wait_for "$tmp/err" '^ready' 10
  port=$(port_of "$tmp/err")
  perl tests/lib/chat.pl "tcp:$port" 10 >"$tmp/chat.out" 2>&1 <<'C'
expect Welcome to NodeMCU world[^\n]*\n
send print(1+1)
expect ^2\n> $
send =6*7
expect ^42\n> $
send for i = 1, 3 do
expect ^>> $
send print(i * 10) end
expect ^10\n20\n30\n> $
send error("bad")
expect ^Lua error: \tstdin:1: bad\n.*> $
send print(("x"):rep(5000))
expect ^x{5000}\n> $
send print(file.exists("nothing here"), node.LFS.list() == nil)
expect ^false\ttrue\n> $
C
  check "telnet ($form): commands run, results, multi-line chunks, errors, 5000-byte output" [ $? -eq 0 ]
  [ -s "$tmp/chat.out" ] && sed 's/^/# /' "$tmp/chat.out"
  perl tests/lib/chat.pl "tcp:$port" 10 >"$tmp/chat.out" 2>&1 <<'C'
expect Welcome to NodeMCU world
send node.output(nil) telnet:close() CONN:close()
eof
C
  check "telnet ($form): a second session after the first ended; it can close the server" [ $? -eq 0 ]
  finish "telnet ($form): then the program ends" 0
  check "telnet ($form): serial_debug 0 kept the console off standard output" [ "$(cat "$tmp/out")" = "> " ]
done

# ---- a relay on a web page ----
$NM --gpio "$tmp/gpio.sock" tests/apps/relay_web.lua 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_for "$tmp/out" '^ready' 10
port=$(port_of "$tmp/out")
perl tests/lib/chat.pl "unix:$tmp/gpio.sock" 10 >"$tmp/watch.out" 2>&1 <<'C' &
expect ^mode 1 output\npin 1 0\nmode 3 int\n
say watching
expect ^pin 1 1\n
say seen on
expect ^pin 1 0\n
say seen off
expect ^pin 1 1\n
say seen button
eof
C
watcher=$!
wait_for "$tmp/watch.out" watching 10
page=$(curl -s --max-time 10 "http://127.0.0.1:$port/on")
check "GET /on: the page says ON" [ "${page#*Relay is ON}" != "$page" ]
wait_for "$tmp/watch.out" "seen on" 10
check "... and the channel saw pin 1 go high" grep -q "seen on" "$tmp/watch.out"
page=$(curl -s --max-time 10 "http://127.0.0.1:$port/off")
check "GET /off: OFF" [ "${page#*Relay is OFF}" != "$page" ]
wait_for "$tmp/watch.out" "seen off" 10
check "... pin 1 low" grep -q "seen off" "$tmp/watch.out"
printf 'send set 3 0\nexpect ok\n' | perl tests/lib/chat.pl "unix:$tmp/gpio.sock" 10 >/dev/null 2>&1
wait_for "$tmp/watch.out" "seen button" 10
check "the button (pin 3 pulled low from the channel) toggled the relay" grep -q "seen button" "$tmp/watch.out"
page=$(curl -s --max-time 10 "http://127.0.0.1:$port/")
check "GET /: ON after the button" [ "${page#*Relay is ON}" != "$page" ]
curl -s --max-time 10 "http://127.0.0.1:$port/quit" >/dev/null
wait "$watcher"
check "the watcher saw every change, then the end" [ $? -eq 0 ]
finish "the relay program ends on /quit" 0

# ---- a file server ----
mkdir -p "$tmp/root/css" "$tmp/root/img" "$tmp/outside"
printf '<html><body>hello</body></html>' >"$tmp/root/index.html"
printf 'body { color: red }' >"$tmp/root/css/site.css"
head -c 300000 /dev/urandom >"$tmp/root/img/big.bin"
printf 'secret' >"$tmp/outside/secret.txt"
ln -s "$tmp/outside/secret.txt" "$tmp/root/link.txt"
$NM --fs "$tmp/root" tests/apps/file_server.lua 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_for "$tmp/out" '^ready' 10
port=$(port_of "$tmp/out")
base="http://127.0.0.1:$port"
check "GET /: index.html" [ "$(curl -s --max-time 10 "$base/")" = "<html><body>hello</body></html>" ]
ctype=$(curl -s --max-time 10 -o /dev/null -w '%{content_type}' "$base/css/site.css")
check "a name with '/': css/site.css, as text/css" [ "$ctype" = "text/css" ]
curl -s --max-time 20 -o "$tmp/big.got" "$base/img/big.bin"
check "300 kB read 1 kB at a time arrive byte-exact" cmp -s "$tmp/big.got" "$tmp/root/img/big.bin"
curls=""
for i in 1 2 3 4 5 6; do
  curl -s --max-time 20 -o "$tmp/big.$i" "$base/img/big.bin" &
  curls="$curls $!"
done
wait $curls
check "six at once (more than SPIFFS's 4 open files): each whole or refused" \
  sh -c "for i in 1 2 3 4 5 6; do cmp -s '$tmp/big.'\$i '$tmp/root/img/big.bin' || [ \"\$(cat '$tmp/big.'\$i)\" = 'not found' ] || exit 1; done"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$base/missing.html")
check "a missing file: 404" [ "$code" = 404 ]
for bad in "../outside/secret.txt" "link.txt" "%2e%2e/outside/secret.txt" "/etc/passwd"; do
  body=$(curl -s --max-time 10 --path-as-is "$base/$bad")
  check "the sandbox: /$bad is not served" [ "$body" = "not found" ]
done
kill -TERM "$pid"
finish "the file server stops on SIGTERM, orderly" 143

# ---- a serial bridge ----
mkfifo "$tmp/serial_in"
$NM tests/apps/serial_bridge.lua 0 <"$tmp/serial_in" >"$tmp/serial_out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/serial_in"
wait_for "$tmp/err" '^ready' 10
port=$(port_of "$tmp/err")
head -c 65536 /dev/zero | tr '\0' 'y' >"$tmp/64k"
perl tests/lib/chat.pl "tcp:$port" 10 >"$tmp/chat.out" 2>&1 <<'C' &
say connected
send from the network
expect ^from the serial line\n
expect ^(?:y{32768}){2}$
C
client=$!
wait_for "$tmp/chat.out" connected 10
wait_for "$tmp/serial_out" 'from the network' 10
check "TCP to the serial line: uart.write(0) on standard output" [ "$(cat "$tmp/serial_out")" = "from the network" ]
printf 'from the serial line\n' >&3
cat "$tmp/64k" >&3
wait "$client"
check "the serial line to TCP: standard input through uart.on(\"data\", 0)" [ $? -eq 0 ]
[ -s "$tmp/chat.out" ] && sed 's/^/# /' "$tmp/chat.out" | grep -v connected
exec 3>&-
kill -TERM "$pid"
finish "the bridge stops on SIGTERM, orderly" 143
plan
