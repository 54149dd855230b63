#!/usr/bin/perl
# bench/peers/mqtt_blast.pl PORTFILE N - a stand-in broker for measuring a
# client's receive path alone: for each connection it reads the CONNECT,
# then writes a CONNACK and N QoS 0 PUBLISH packets (100-byte payloads)
# as fast as the client takes them, then waits for the client to close.
# Writes its port to PORTFILE; serves until killed.
use strict;
use warnings;
use IO::Socket::INET;
my ($portfile, $n) = @ARGV;
$SIG{CHLD} = 'IGNORE';
my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1:0', Listen => 16, ReuseAddr => 1) or die "listen: $!";
open(my $f, '>', $portfile) or die;
print $f $s->sockport, "\n";
close $f;
my $topic = 'bench/blast';
my $payload = 'p' x 100;
my $pkt = "\x30" . chr(2 + length($topic) + length($payload)) . pack('n', length $topic) . $topic . $payload;
my $all = "\x20\x02\x00\x00" . ($pkt x $n);
while (my $c = $s->accept) {
  my $pid = fork;
  next if !defined $pid || $pid;
  sysread($c, my $buf, 65536);
  my $off = 0;
  while ($off < length $all) {
    my $w = syswrite($c, $all, 1 << 20, $off);
    last unless $w;
    $off += $w;
  }
  1 while sysread($c, $buf, 65536);
  exit 0;
}
