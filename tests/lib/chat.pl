#!/usr/bin/perl
# tests/lib/chat.pl ADDR [SECONDS] < SCRIPT - a scripted client for the
# device tests (perl-base only).  ADDR is unix:PATH or tcp:PORT (on
# 127.0.0.1).  SCRIPT, one step a line:
#   send TEXT      send TEXT and "\n" (\n, \r, \t and \\ escapes in TEXT)
#   raw TEXT       send TEXT as it is (escapes as above), no "\n" added
#   expect REGEX   wait until what came so far matches REGEX (Perl, /s);
#                  what matched, and all before it, is used up
#   say TEXT       print TEXT on standard output (progress for the caller)
#   shut           close our write side (the peer reads EOF)
#   eof            wait until the peer closes
# Each wait is bounded by SECONDS (default 10).  Exit 0 when every step
# passed; else 1, with the step and what was received on standard error.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;
use Socket qw(SOCK_STREAM);

my ($addr, $secs) = @ARGV;
$secs ||= 10;
$SIG{PIPE} = 'IGNORE';
$| = 1;
my $s;
if ($addr =~ /^unix:(.*)$/) {
  $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $1);
} elsif ($addr =~ /^tcp:(\d+)$/) {
  $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $1, Proto => 'tcp');
}
die "chat.pl: cannot connect to $addr: $!\n" unless $s;
binmode $s;
my $sel = IO::Select->new($s);
my $buf = '';
my $eof = 0;

sub unescape {
  my $t = shift;
  $t =~ s/\\(.)/$1 eq 'n' ? "\n" : $1 eq 'r' ? "\r" : $1 eq 't' ? "\t" : $1/ge;
  return $t;
}

sub fail {
  my $msg = shift;
  (my $got = $buf) =~ s/\n/\\n/g;
  print STDERR "chat.pl: $msg; unmatched input: '$got'\n";
  exit 1;
}

# Reads what is there, waiting until $until (an absolute time).
sub fill {
  my $until = shift;
  my $left = $until - time;
  return 0 if $left <= 0 || $eof;
  return 0 unless $sel->can_read($left);
  my $n = sysread($s, my $chunk, 65536);
  if (!$n) { $eof = 1; return 0; }
  $buf .= $chunk;
  return 1;
}

while (my $line = <STDIN>) {
  chomp $line;
  next if $line =~ /^\s*(#|$)/;
  my ($op, $arg) = $line =~ /^(\S+)\s?(.*)$/;
  if ($op eq 'send' || $op eq 'raw') {
    my $t = unescape($arg) . ($op eq 'send' ? "\n" : '');
    defined syswrite($s, $t) or fail("send failed: $!");
  } elsif ($op eq 'expect') {
    my $until = time + $secs;
    until ($buf =~ /$arg/s) {
      fill($until) or ($buf =~ /$arg/s) or fail("no match for /$arg/ within $secs s" . ($eof ? " (peer closed)" : ''));
    }
    $buf =~ s/^.*?$arg//s;
  } elsif ($op eq 'say') {
    print unescape($arg), "\n";
  } elsif ($op eq 'shut') {
    shutdown($s, 1);
  } elsif ($op eq 'eof') {
    my $until = time + $secs;
    while (!$eof) { fill($until) or $eof or fail("peer did not close within $secs s"); }
  } else {
    fail("unknown step '$line'");
  }
}
exit 0;
