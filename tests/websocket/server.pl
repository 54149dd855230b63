#!/usr/bin/perl
# tests/websocket/server.pl - a WebSocket server (RFC 6455) for the
# websocket tests, on 127.0.0.1 at a port the kernel picks (printed first).
# One process per connection; what it does depends on the request's path:
#   /echo       echoes every message with its opcode; answers pings; echoes
#               a close frame and ends
#   /welcome    the 101 answer and a text frame "welcome" in one write, then /echo
#   /headers    sends the request's header lines as one text message
#   /frag       "Hello, fragmented world" in 3 fragments with a ping between them
#   /big        a 1 MiB binary message (64-bit length) written in pieces
#   /ping       a ping "p1"; then "pong ok" or "pong bad" as text
#   /close      a close frame (1000, "bye"); "echo ok"/"echo bad" on stderr
#   /masked     a masked text frame "masked"
#   /utf8       a text frame of bytes that are not UTF-8
#   /reserved   a frame of opcode 3 "three"
#   /silent     the handshake, then nothing (never answers close)
#   /hangup     the handshake, then the TCP connection closes
#   /mid        a frame header for 100 bytes, 10 of them, then closes
#   /badkey     a wrong Sec-WebSocket-Accept
#   /notws      "HTTP/1.1 200 OK"
#   /badlen     a 64-bit length with its top bit set
#   /huge       a frame announcing 2^40 bytes
#   /cont       a continuation frame without a message
#   /ctlbig     a ping with 126 bytes
#   /newinside  a text fragment, then a new text frame inside the message
use strict;
use warnings;
use IO::Socket::INET;
use Digest::SHA qw(sha1);
use MIME::Base64 qw(encode_base64);

$SIG{CHLD} = 'IGNORE';
$| = 1;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 64,
                                ReuseAddr => 1, Proto => 'tcp') or die "listen: $!";
print $srv->sockport, "\n";

sub frame {
  my ($op, $data, %o) = @_;
  my $fin = exists $o{fin} ? $o{fin} : 1;
  my $len = length $data;
  my $h = chr(($fin ? 0x80 : 0) | $op);
  my $m = $o{mask} ? 0x80 : 0;
  if ($len < 126) { $h .= chr($m | $len) }
  elsif ($len < 65536) { $h .= chr($m | 126) . pack('n', $len) }
  else { $h .= chr($m | 127) . pack('NN', 0, $len) }
  if ($m) {
    my $key = pack('N', 0x12345678);
    my $k = $key x (int($len / 4) + 1);
    $data ^= substr($k, 0, $len);
    $h .= $key;
  }
  return $h . $data;
}

sub readn {
  my ($c, $n) = @_;
  my $buf = '';
  while (length $buf < $n) {
    my $r = sysread($c, $buf, $n - length $buf, length $buf);
    return undef unless $r;
  }
  return $buf;
}

# One client frame: (fin, opcode, payload) unmasked; undef at EOF.
sub read_frame {
  my $c = shift;
  my $h = readn($c, 2) // return;
  my ($b0, $b1) = unpack('CC', $h);
  my $len = $b1 & 0x7f;
  if ($len == 126) { $len = unpack('n', readn($c, 2) // return) }
  elsif ($len == 127) { my ($hi, $lo) = unpack('NN', readn($c, 8) // return); $len = $hi * 2**32 + $lo }
  my $key = ($b1 & 0x80) ? (readn($c, 4) // return) : undef;
  my $data = $len ? (readn($c, $len) // return) : '';
  die "client frame not masked\n" unless defined $key;
  my $k = $key x (int($len / 4) + 1);
  $data ^= substr($k, 0, $len);
  return ($b0 & 0x80, $b0 & 0x0f, $data);
}

sub echo_loop {
  my $c = shift;
  my ($msg, $mop) = ('', 0);
  while (my ($fin, $op, $data) = read_frame($c)) {
    if ($op == 8) { syswrite($c, frame(8, $data)); return }
    if ($op == 9) { syswrite($c, frame(10, $data)); next }
    next if $op == 10;
    $mop = $op if $op != 0;
    $msg .= $data;
    next unless $fin;
    syswrite($c, frame($mop, $msg));
    ($msg, $mop) = ('', 0);
  }
}

sub serve {
  my $c = shift;
  my $req = '';
  while ($req !~ /\r\n\r\n/) {
    my $r = sysread($c, $req, 4096, length $req);
    return unless $r;
    return if length $req > 65536;
  }
  my ($path) = $req =~ m{^GET (\S+) HTTP/1\.1\r\n};
  my ($key) = $req =~ /^Sec-WebSocket-Key: (\S+)\r$/mi;
  $path //= '';
  $key //= '';
  my $accept = encode_base64(sha1($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'), '');
  $accept = 'dGhlIHNhbXBsZSBub25jZQ==AAAA' if $path eq '/badkey';
  if ($path eq '/notws') {
    syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno");
    return;
  }
  my $ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         . "Sec-WebSocket-Accept: $accept\r\n\r\n";
  if ($path eq '/welcome') { syswrite($c, $ok . frame(1, 'welcome')); echo_loop($c); return }
  syswrite($c, $ok);
  if ($path eq '/echo' || $path eq '/badkey') { echo_loop($c) }
  elsif ($path eq '/headers') {
    my ($head) = $req =~ /^(.*?)\r\n\r\n/s;
    syswrite($c, frame(1, $head));
    echo_loop($c);
  }
  elsif ($path eq '/frag') {
    syswrite($c, frame(1, 'Hello, ', fin => 0));
    syswrite($c, frame(9, 'mid'));
    syswrite($c, frame(0, 'fragmented', fin => 0) . frame(0, ' world'));
    echo_loop($c);
  }
  elsif ($path eq '/big') {
    my $data = join '', map { chr($_ % 251) } 0 .. (1 << 20) - 1;
    my $f = frame(2, $data);
    for (my $i = 0; $i < length $f; $i += 65536) { syswrite($c, substr($f, $i, 65536)) }
    echo_loop($c);
  }
  elsif ($path eq '/ping') {
    syswrite($c, frame(9, 'p1'));
    my ($fin, $op, $data) = read_frame($c);
    syswrite($c, frame(1, defined $op && $op == 10 && $data eq 'p1' ? 'pong ok' : 'pong bad'));
    echo_loop($c);
  }
  elsif ($path eq '/close') {
    syswrite($c, frame(8, pack('n', 1000) . 'bye'));
    my ($fin, $op, $data) = read_frame($c);
    print STDERR (defined $op && $op == 8 && $data eq pack('n', 1000) . 'bye' ? "echo ok\n" : "echo bad\n");
  }
  elsif ($path eq '/masked') { syswrite($c, frame(1, 'masked', mask => 1)); echo_loop($c) }
  elsif ($path eq '/utf8') { syswrite($c, frame(1, "\xff\xfe\xc3")); echo_loop($c) }
  elsif ($path eq '/reserved') { syswrite($c, frame(3, 'three')); echo_loop($c) }
  elsif ($path eq '/silent') { 1 while sysread($c, my $junk, 4096) }
  elsif ($path eq '/hangup') { }
  elsif ($path eq '/mid') { syswrite($c, chr(0x82) . chr(100) . ('x' x 10)) }
  elsif ($path eq '/badlen') { syswrite($c, chr(0x82) . chr(127) . pack('NN', 0x80000000, 5) . 'abcde'); echo_loop($c) }
  elsif ($path eq '/huge') { syswrite($c, chr(0x82) . chr(127) . pack('NN', 256, 0) . 'abcde'); echo_loop($c) }
  elsif ($path eq '/cont') { syswrite($c, frame(0, 'orphan')); echo_loop($c) }
  elsif ($path eq '/ctlbig') { syswrite($c, frame(9, 'p' x 126)); echo_loop($c) }
  elsif ($path eq '/newinside') { syswrite($c, frame(1, 'a', fin => 0) . frame(1, 'b')); echo_loop($c) }
}

while (1) {
  my $c = $srv->accept or next;
  my $pid = fork;
  if (defined $pid && $pid == 0) {
    close $srv;
    eval { serve($c) };
    print STDERR "server: $@" if $@;
    close $c;
    exit 0;
  }
  close $c;
}
