#!/usr/bin/perl
# tests/faults/peer.pl MODE PORT [ARGS] - a misbehaving TCP peer on
# 127.0.0.1 for the fault tests (perl-base only: IO::Socket::INET, Socket).
#   rst PORT N           read N bytes, then close with SO_LINGER 0 (RST)
#   halfclose PORT OUT   send "hello", shutdown the write side, read until
#                        EOF; write the byte count to OUT
#   noread PORT SECS     send "go", then never read; exit after SECS
#   idle PORT OUT SECS   send nothing; write "eof" to OUT when the peer
#                        closes (or "open" after SECS)
#   trickle PORT OUT MS K  send one byte every MS ms, K times, then wait
#                        for EOF as idle does (at most 20 s)
#   count PORT OUT       read until EOF; write the byte count to OUT
#   slowread PORT OUT    as count, with a 64 KiB receive buffer, reading
#                        64 KiB every 20 ms (about 3 MB/s)
#   hold PORT N OUT      open N connections and keep them until stdin
#                        closes; write how many were accepted then closed
#                        by the peer (EOF/RST before any data) to OUT
# Results are written to OUT.tmp and renamed, so a reader never sees half.
use strict;
use warnings;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_LINGER SO_RCVBUF pack_sockaddr_in inet_aton);

my ($mode, $port, @a) = @ARGV;
$SIG{PIPE} = 'IGNORE';

sub connect_or_die {
  my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
    or die "peer.pl $mode: connect: $!\n";
  return $s;
}

sub result {
  my ($out, $text) = @_;
  open(my $f, '>', "$out.tmp") or die "peer.pl: $out.tmp: $!\n";
  print $f "$text\n";
  close $f;
  rename "$out.tmp", $out or die "peer.pl: rename $out: $!\n";
}

# Waits at most $secs for EOF (or an error); true if it came.
sub wait_eof {
  my ($s, $secs) = @_;
  my $end = time + $secs;
  my $rin = '';
  vec($rin, fileno($s), 1) = 1;
  while (time <= $end) {
    my $n = select(my $rout = $rin, undef, undef, 0.2);
    next unless $n > 0;
    my $got = sysread($s, my $buf, 65536);
    return 1 if !defined $got || $got == 0;
  }
  return 0;
}

if ($mode eq 'rst') {
  my $s = connect_or_die();
  my $want = $a[0];
  my $got = 0;
  while ($got < $want) {
    my $n = sysread($s, my $buf, 65536);
    last if !$n;
    $got += $n;
  }
  setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) or die "SO_LINGER: $!\n";
  close $s;
} elsif ($mode eq 'halfclose') {
  my $s = connect_or_die();
  syswrite($s, "hello");
  shutdown($s, 1);
  my $total = 0;
  while (1) {
    my $n = sysread($s, my $buf, 65536);
    last if !$n;
    $total += $n;
  }
  result($a[0], $total);
} elsif ($mode eq 'count') {
  my $s = connect_or_die();
  my $total = 0;
  while (1) {
    my $n = sysread($s, my $buf, 1 << 20);
    last if !$n;
    $total += $n;
  }
  result($a[0], $total);
} elsif ($mode eq 'slowread') {
  my $s = IO::Socket::INET->new(Proto => 'tcp') or die "peer.pl slowread: socket: $!\n";
  setsockopt($s, SOL_SOCKET, SO_RCVBUF, 65536) or die "SO_RCVBUF: $!\n";
  $s->connect(pack_sockaddr_in($port, inet_aton('127.0.0.1')))
    or die "peer.pl slowread: connect: $!\n";
  my $total = 0;
  while (1) {
    my $n = sysread($s, my $buf, 65536);
    last if !$n;
    $total += $n;
    select(undef, undef, undef, 0.02);
  }
  result($a[0], $total);
} elsif ($mode eq 'noread') {
  my $s = connect_or_die();
  syswrite($s, "go");
  sleep $a[0];
} elsif ($mode eq 'idle') {
  my $s = connect_or_die();
  result($a[0], wait_eof($s, $a[1]) ? "eof" : "open");
} elsif ($mode eq 'trickle') {
  my ($out, $ms, $k) = @a;
  my $s = connect_or_die();
  for (1 .. $k) {
    select(undef, undef, undef, $ms / 1000);
    syswrite($s, "t") or last;
  }
  result($out, wait_eof($s, 20) ? "eof" : "open");
} elsif ($mode eq 'hold') {
  my ($n, $out) = @a;
  my @socks;
  for (1 .. $n) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
      or next;
    push @socks, $s;
  }
  # Connections netmcu could not keep were accepted and closed at once.
  select(undef, undef, undef, 0.5);
  my $closed = 0;
  for my $s (@socks) {
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    if (select(my $rout = $rin, undef, undef, 0) > 0) {
      my $got = sysread($s, my $buf, 1);
      $closed++ if !defined $got || $got == 0;
    }
  }
  result($out, scalar(@socks) . " $closed");
  my $line = <STDIN>; # until the test lets go
  close $_ for @socks;
} else {
  die "peer.pl: unknown mode $mode\n";
}
