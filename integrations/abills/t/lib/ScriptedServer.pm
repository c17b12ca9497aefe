package ScriptedServer;

# Test support: an HTTP server on a free loopback port that answers each connection with the
# next of the raw answers it was given (optionally trickled out byte by byte) and records
# every request it read, for what a real Herald never does: odd answers, slow answers,
# redirects. It runs in a child process that ends with the test.

use strict;
use warnings;

use File::Temp qw(tempfile);
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep);

my $JSON = JSON::PP->new->canonical;

# new(answers => [RAW | {raw => RAW, trickle => SECONDS_PER_BYTE}, ...])
sub new {
  my ($class, %args) = @_;
  my $listener = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
    or die "listen: $!\n";
  my (undef, $log) = tempfile(UNLINK => 1);
  my $self = bless { port => $listener->sockport, log => $log }, $class;
  my $pid = fork // die "fork: $!\n";
  if (!$pid) {
    for my $answer (@{ $args{answers} }) {
      my $client = $listener->accept or last;
      $client->autoflush(1);
      my ($head, $length) = ('', 0);
      while (defined(my $line = <$client>)) {
        $head .= $line;
        $length = $1 if $line =~ /\AContent-Length:\s*(\d+)/i;
        last if $line eq "\r\n";
      }
      read($client, my $body, $length) if $length;
      open my $fh, '>>', $log or die;
      print {$fh} $JSON->encode({ head => $head, body => $body // '' }), "\n";
      close $fh;
      my ($raw, $trickle) = ref $answer ? @{$answer}{qw(raw trickle)} : ($answer, 0);
      if ($trickle) {
        for my $byte (split //, $raw) { print {$client} $byte or last; sleep $trickle }
      }
      else {
        print {$client} $raw;
      }
      close $client;
    }
    POSIX::_exit(0);
  }
  $self->{pid} = $pid;
  return $self;
}

sub url { return "http://127.0.0.1:$_[0]{port}" }

# An answer with a JSON (or any) body and the right length.
sub answer {
  my ($class, $status, $body, %headers) = @_;
  $headers{'Content-Type'} //= 'application/json';
  my $head = join '', map { "$_: $headers{$_}\r\n" } sort keys %headers;
  return "HTTP/1.1 $status\r\n${head}Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
}

# Every request read so far: [{head, body}, ...].
sub requests {
  my ($self) = @_;
  open my $fh, '<', $self->{log} or return [];
  return [ map { $JSON->decode($_) } <$fh> ];
}

sub DESTROY {
  my ($self) = @_;
  return if !$self->{pid};
  kill 'TERM', $self->{pid};
  waitpid $self->{pid}, 0;
}

1;
