#!/bin/sh
# tests/uart.sh - uart: uart 0 is standard input and output.
# uart.on("data") in the firmware's modes over a pipe, a file, /dev/null,
# a closed input and a FIFO that stays open; uart.write's bytes; the
# interpreter fed by run_input; the argument errors.
cd "$(dirname "$0")/.." || exit 2
. tests/lib/tap.sh
NM=${NETMCU:-build/netmcu}
tmp=$(mktemp -d)
holder=""
cleanup() {
  [ -n "$holder" ] && kill "$holder" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# collect(mode...) prints each callback's data in brackets
cat >"$tmp/modes.lua" <<'L'
local how = ...
local function show(d) uart.write(0, "[", d, "]") end
if how == "count" then uart.on("data", 4, show, 0)
elseif how == "char" then uart.on("data", ";", show, 0)
elseif how == "any" then uart.on("data", 0, function(d) uart.write(0, "{", d, "}") end, 0)
elseif how == "none" then uart.on("data", show, 0)
elseif how == "esp32" then uart.on(0, "error", print) uart.on(0, "data", 4, show, 0)
elseif how == "lines" then uart.on("data", "\r", function(d) uart.write(0, "<", d, ">") end, 1)
end
L

out=$(printf 'abcdefghij' | $NM "$tmp/modes.lua" count)
check "count mode: every 4 bytes; the rest at the end of input" [ "$out" = "[abcd][efgh][ij]" ]
out=$(printf 'abcdefghij' | $NM "$tmp/modes.lua" esp32)
check "the ESP32's form: uart.on(0, \"data\", ...), and an \"error\" callback" [ "$out" = "[abcd][efgh][ij]" ]
out=$(printf 'ab;cd;e' | $NM "$tmp/modes.lua" char)
check "end-char mode: up to and with the char" [ "$out" = "[ab;][cd;][e]" ]
head -c 600 /dev/zero | tr '\0' 'x' >"$tmp/600"
out=$($NM "$tmp/modes.lua" none <"$tmp/600")
check "no count or char: 256-byte pieces (the firmware's buffer)" \
  [ "$(printf %s "$out" | tr -d 'x')" = "[][][]" -a "$(printf %s "$out" | tr -d '[]' | wc -c)" -eq 600 ]
out=$(printf 'hello world' | $NM "$tmp/modes.lua" any)
check "0: what came, as it came" [ "$(echo "$out" | tr -d '{}')" = "hello world" -a "${out#\{}" != "$out" ]
out=$($NM "$tmp/modes.lua" count <"$tmp/600" | tr -d 'x' | wc -c)
check "a regular file as standard input" [ "$out" -eq 300 ]
if command -v script >/dev/null 2>&1; then
  out=$(printf 'abcdefgh\n' | timeout 10 script -qec "$NM $tmp/modes.lua count" /dev/null)
  check "a terminal as standard input (a pty, in line mode)" [ "${out#*\[abcd\]\[efgh\]}" != "$out" ]
else
  skip "a terminal as standard input" "no script(1) for a pty"
fi
out=$($NM "$tmp/modes.lua" count </dev/null)
check "/dev/null: nothing, and the runtime ends" [ $? -eq 0 -a -z "$out" ]
out=$($NM "$tmp/modes.lua" count <&-)
check "a closed standard input: nothing, and the runtime ends" [ $? -eq 0 -a -z "$out" ]

printf 'print(1+1)\r\nx = 5\n\n=x\r\nfor i=1,2 do\nprint(i) end\nprint(#"ab\bc")\nbad()\n' >"$tmp/lines.in"
$NM "$tmp/modes.lua" lines <"$tmp/lines.in" >"$tmp/lines.out"
check "run_input: the callback gets each line (CR, LF, CR LF; BS takes back)" \
  grep -q '^<print(1+1)><x = 5><>> <=x><for i=1,2 do><print(i) end><print(#"ac")><bad()>2$' "$tmp/lines.out"
check "... and the interpreter runs them, with prompts, =expr and chunks over lines" \
  [ "$(sed -n '2,5p' "$tmp/lines.out" | tr '\n' '|')" = "> > 5|> >> 1|2|> 2|" ]
check "... and prints errors" grep -q "^> Lua error: 	stdin:1: attempt to call .*bad" "$tmp/lines.out"

cat >"$tmp/write.lua" <<'L'
uart.write(0, "text", 65, "\0", 10)
uart.write(1, "to uart 1\n")
for _, bad in ipairs({
  function() uart.write(2, "x") end, function() uart.write(0, 256) end,
  function() uart.write(0, "ok", {}) end, function() uart.write(0, -1) end,
  function() uart.setup(2, 9600, 8, 0, 1) end, function() uart.getconfig(-1) end,
  function() uart.on("error", print) end, function() uart.on("data", 256, print) end,
  function() uart.on("data", "ab", print) end, function() uart.fifodepth(2) end,
  function() uart.fifodepth(0, 3) end, function() uart.write(0, 1.5) end,
  function() uart.on(1, "data", print) end, function() uart.on(0, "frob", print) end,
}) do
  local ok, err = pcall(bad)
  io.stderr:write("E: ", tostring(err), "\n")
end
L
$NM "$tmp/write.lua" >"$tmp/out" 2>"$tmp/err"
check "uart.write(0, ...): strings and bytes on standard output, nothing else" \
  [ "$(od -An -c "$tmp/out" | tr -s ' ')" = " t e x t A \0 \n" ]
check "uart.write(1, ...): standard error" grep -q "^to uart 1$" "$tmp/err"
for msg in "uart 2 does not exist" "invalid number" "string expected" "uart -1 does not exist" \
  "method not supported" "wrong arg range" "Bad UART id; must be 0 or 1" \
  "Bad direction; must be DIR_RX or DIR_TX" "integer"; do
  check "error: $msg" grep -q "$msg" "$tmp/err"
done
check "uart 1 does not receive" grep -q "uart 1 cannot receive" "$tmp/err"
check "a raising write wrote nothing" [ "$(grep -c '^E: ' "$tmp/err")" -eq 14 ]

cat >"$tmp/config.lua" <<'L'
print(uart.setup(0, 9600, 8, uart.PARITY_NONE, uart.STOPBITS_1, 0))
print(uart.getconfig(0))
print(uart.setup(0, 12345, 9, 7, 9))
print(uart.getconfig(0))
print(uart.setup(1, 115200, 7, uart.PARITY_EVEN, uart.STOPBITS_2))
print(uart.getconfig(1))
print(uart.STOPBITS_1_5, uart.PARITY_ODD, uart.DIR_RX, uart.DIR_TX)
uart.alt(1) uart.alt(0)
print(uart.fifodepth(), uart.fifodepth(0, uart.DIR_TX))
L
out=$($NM "$tmp/config.lua" </dev/null | tr '\n\t' '| ')
check "setup returns the rate asked for; getconfig what the chip took" \
  [ "$out" = "9600|9600 8 0 1|12345|9600 8 0 1|115200|115200 7 1 2|3 2 0 1|0 0|" ]

# Reading stops when the callback goes: the runtime then ends, though its
# input (a FIFO held open by us) never does.
mkfifo "$tmp/fifo"
cat >"$tmp/once.lua" <<'L'
uart.on("data", 3, function(d) uart.write(0, d) uart.on("data") end, 0)
L
$NM "$tmp/once.lua" <"$tmp/fifo" >"$tmp/once.out" &
pid=$!
exec 3>"$tmp/fifo"
printf 'abcdef' >&3
if wait_exit $pid 10; then
  check "unregistering stops reading and lets the runtime end" [ "$status" -eq 0 -a "$(cat "$tmp/once.out")" = "abc" ]
else
  nok "unregistering stops reading and lets the runtime end"; kill $pid
fi
exec 3>&-
plan
