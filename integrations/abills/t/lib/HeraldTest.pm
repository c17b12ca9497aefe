package HeraldTest;

# Test support: a real `herald serve` on SQLite in a temporary directory and a free port,
# beside the testkit's mock push service (`herald-mock-push`), which decrypts every push
# with a browser's keys. Both processes end with the test.
#
# Binaries: $ENV{HERALD_BIN}, else target/debug/herald under the repository root;
# $ENV{HERALD_MOCK_PUSH_BIN}, else herald-mock-push beside the herald binary.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use IPC::Open2 qw(open2);
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

use Exporter 'import';
our @EXPORT_OK = qw(start_stack free_port ADMIN_TOKEN);

use constant ADMIN_TOKEN => 'abills-bridge-test-admin-token-0123456789';

my $JSON = JSON::PP->new->utf8->canonical;
my $HTTP = HTTP::Tiny->new(timeout => 10);
my @CHILDREN;

sub repo_root {
  return abs_path(File::Spec->catdir(dirname(abs_path(__FILE__)), qw(.. .. .. ..)));
}

sub herald_bin {
  my $bin = $ENV{HERALD_BIN} || File::Spec->catfile(repo_root(), qw(target debug herald));
  die "herald binary not found at $bin: build it (cargo build -p herald) or set HERALD_BIN\n" if !-x $bin;
  return $bin;
}

sub mock_bin {
  my $bin = $ENV{HERALD_MOCK_PUSH_BIN} || File::Spec->catfile(dirname(herald_bin()), 'herald-mock-push');
  die "herald-mock-push not found at $bin: cargo build -p herald-testkit --bin herald-mock-push,"
    . " or set HERALD_MOCK_PUSH_BIN\n" if !-x $bin;
  return $bin;
}

# A port nothing listens on right now.
sub free_port {
  my $socket = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp')
    or die "cannot bind a port: $!\n";
  my $port = $socket->sockport;
  close $socket;
  return $port;
}

# Starts the mock push service and Herald; returns the stack object.
sub start_stack {
  my (%env) = @_;
  my $self = bless { dir => tempdir('herald-abills-XXXXXX', TMPDIR => 1, CLEANUP => 1) }, __PACKAGE__;
  $self->_start_mock;
  $self->_start_herald(%env);
  return $self;
}

sub url   { return $_[0]{url} }
sub dir   { return $_[0]{dir} }

sub _start_mock {
  my ($self) = @_;
  my $pid = open2(my $out, my $in, mock_bin());
  push @CHILDREN, $pid;
  $self->{mock_pid} = $pid;
  $self->{mock_stdin} = $in;    # held open: the mock exits when we do
  my $line = <$out>;
  die "herald-mock-push printed nothing\n" if !defined $line;
  my $info = $JSON->decode($line);
  $self->{control} = $info->{control};
}

sub _start_herald {
  my ($self, %env) = @_;
  my $port = free_port();
  $self->{url} = "http://127.0.0.1:$port";
  $self->{log} = File::Spec->catfile($self->{dir}, 'herald.log');
  my %herald_env = (
    HERALD_CONFIG                      => '/dev/null',
    HERALD_LISTEN                      => "127.0.0.1:$port",
    HERALD_DATABASE_URL                => "sqlite://$self->{dir}/herald.db",
    HERALD_ADMIN_TOKEN                 => ADMIN_TOKEN,
    HERALD_VAPID_SUBJECT               => 'mailto:abills-test@example.com',
    HERALD_ALLOW_PRIVATE_ENDPOINTS     => 'true',
    HERALD_ALLOW_HTTP_ENDPOINTS        => 'true',
    HERALD_PUBLIC_RATE_LIMIT_PER_MINUTE => '0',
    HERALD_RETRY_BASE_MS               => '50',
    HERALD_LOG                         => 'herald=info,warn',
    %env,
  );
  my $pid = fork;
  die "fork: $!\n" if !defined $pid;
  if (!$pid) {
    $ENV{$_} = $herald_env{$_} for keys %herald_env;
    chdir $self->{dir};
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', $self->{log};
    open STDERR, '>>', $self->{log};
    exec herald_bin(), 'serve' or POSIX::_exit(127);
  }
  push @CHILDREN, $pid;
  $self->{herald_pid} = $pid;
  my $deadline = time + 30;
  while (time < $deadline) {
    my $answer = $HTTP->get("$self->{url}/healthz");
    return if $answer->{status} == 200;
    die "herald exited at start:\n" . $self->log_tail if waitpid($pid, WNOHANG) == $pid;
    sleep 0.05;
  }
  die "herald did not become healthy in 30 s:\n" . $self->log_tail;
}

sub log_tail {
  my ($self) = @_;
  open my $fh, '<', $self->{log} or return '';
  my @lines = <$fh>;
  return join '', @lines[ ($#lines > 30 ? $#lines - 30 : 0) .. $#lines ];
}

# A new device at the mock: {device, endpoint, subscription} (the browser's toJSON()).
sub new_device {
  my ($self, %opt) = @_;
  my $answer = $HTTP->post("$self->{control}/devices",
    { content => $JSON->encode({ status => $opt{status} // 201 }), headers => { 'Content-Type' => 'application/json' } });
  die "mock: $answer->{status} $answer->{content}\n" if !$answer->{success};
  return $JSON->decode($answer->{content});
}

# Registers a new mock device for uid/aid with the admin token; returns the device.
# status => 410: the device's push service answers that (201 by default).
sub subscribe_device {
  my ($self, $kind, $id, %opt) = @_;
  my $device = $self->new_device(%opt);
  my $answer = $self->admin_request(POST => '/api/v1/subscriptions', { subscription => $device->{subscription}, $kind => $id });
  die "register: $answer->{status} $answer->{content}\n" if !$answer->{success};
  $device->{registration} = $JSON->decode($answer->{content});
  return $device;
}

sub admin_request {
  my ($self, $method, $path, $body) = @_;
  return $HTTP->request($method, $self->{url} . $path, {
    headers => { Authorization => 'Bearer ' . ADMIN_TOKEN, 'Content-Type' => 'application/json' },
    defined $body ? (content => $JSON->encode($body)) : (),
  });
}

# Every push the mock has seen; payloads decrypted (decoded JSON in {json}).
sub received {
  my ($self) = @_;
  my $answer = $HTTP->get("$self->{control}/received");
  die "mock: $answer->{status}\n" if !$answer->{success};
  my $pushes = $JSON->decode($answer->{content});
  for my $push (@$pushes) {
    $push->{json} = eval { JSON::PP->new->decode($push->{payload}) } if defined $push->{payload};
  }
  return $pushes;
}

# Pushes to these devices, waiting (at most $timeout seconds) until there are $count.
sub wait_pushes {
  my ($self, $devices, $count, $timeout) = @_;
  my %wanted = map { $_->{device} => 1 } @$devices;
  my $deadline = time + ($timeout // 15);
  my @pushes;
  while (1) {
    @pushes = grep { $wanted{ $_->{device} } } @{ $self->received };
    last if @pushes >= $count || time > $deadline;
    sleep 0.05;
  }
  return \@pushes;
}

sub stop {
  my ($self) = @_;
  for my $key (qw(herald_pid mock_pid)) {
    my $pid = delete $self->{$key} or next;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    @CHILDREN = grep { $_ != $pid } @CHILDREN;
  }
  close delete $self->{mock_stdin} if $self->{mock_stdin};
}

END {
  my $status = $?;
  for my $pid (@CHILDREN) {
    kill 'TERM', $pid;
    waitpid $pid, 0;
  }
  $? = $status;
}

1;
