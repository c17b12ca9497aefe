#!/usr/bin/perl
# The Sender plugin through a stand-in of the billing system's sender core, against a real
# Herald and the testkit's decrypting mock push service.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";

use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time);

use Herald::Client;
use HeraldTest qw(start_stack free_port ADMIN_TOKEN);
use FakeDbh;
use SenderCoreStandIn;

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

my $stack = start_stack();

# The install the docs describe: share/Push.pm as <base_dir>/lib/Abills/Sender/Push.pm.
my $base_dir = tempdir(CLEANUP => 1);
make_path("$base_dir/lib/Abills/Sender");
copy("$FindBin::Bin/../share/Push.pm", "$base_dir/lib/Abills/Sender/Push.pm") or die "copy Push.pm: $!";

my %conf = (HERALD_URL => $stack->url, HERALD_TOKEN => ADMIN_TOKEN, HERALD_TIMEOUT => 5);
my $db = FakeDbh->new;
my $core = SenderCoreStandIn->new($db, { AID => 1 }, \%conf, { SENDER_TYPE => 'Push', BASE_DIR => $base_dir });
my $herald = Herald::Client->new(url => $stack->url, token => ADMIN_TOKEN);

sub marker { my ($type, $id, $kind) = @_; $db->insert_row(type => $type, client_id => $id, endpoint => "herald:$kind:$id") }

subtest 'new() answers false unless Herald is configured' => sub {
  require Abills::Sender::Herald;
  is(Abills::Sender::Herald->new({}), 0, 'no keys: not available');
  like($Abills::Sender::Herald::errstr, qr/HERALD_URL.*HERALD_TOKEN/, 'errstr names the keys');
  is(Abills::Sender::Herald->new({ HERALD_URL => $stack->url }), 0, 'no token: not available');
  is(Abills::Sender::Herald->new({ HERALD_URL => 'ftp://x', HERALD_TOKEN => 't' x 20 }), 0, 'bad URL: not available');
  like($Abills::Sender::Herald::errstr, qr/http/, 'errstr says the URL must be http(s)');
  my $other = SenderCoreStandIn->new($db, {}, {}, { SENDER_TYPE => 'Push', BASE_DIR => $base_dir });
  ok(!$other->send_message({ UID => 1, TITLE => 'x' }), 'the core cannot send without the keys');
  like($other->{errstr}, qr/not available/, 'the core reports the sender as not available');
};

subtest 'a uid with two devices: both pushes arrive and decrypt' => sub {
  my @devices = map { $stack->subscribe_device(uid => 2) } 1 .. 2;
  marker(0, 2, 'uid');
  my $sent = $core->send_message({ UID => 2, TITLE => 'ABillS Push', MESSAGE => 'Hello, world sent via Push', URL => '/pay' });
  is($sent, 1, 'send_message returns 1') or diag "$core->{errno} $core->{errstr}";
  my @calls = $core->calls;
  is(scalar @calls, 1, 'the core called the plugin once');
  is($calls[0]{TO_ADDRESS}, 'herald:uid:2', 'with the marker contact');
  my $pushes = $stack->wait_pushes(\@devices, 2);
  is(scalar @$pushes, 2, 'two pushes arrived');
  is_deeply([ sort map { $_->{device} } @$pushes ], [ sort map { $_->{device} } @devices ], 'one to each device');
  for my $push (@$pushes) {
    is($push->{error}, undef, "push to $push->{device} decrypted");
    is($push->{vapid}, undef, 'its VAPID signature verified');
    is($push->{json}{notification}{title}, 'ABillS Push', 'title');
    is($push->{json}{notification}{body}, 'Hello, world sent via Push', 'body');
    is($push->{json}{notification}{navigate}, '/pay', 'link');
  }
};

subtest 'an administrator (AID)' => sub {
  my $device = $stack->subscribe_device(aid => 7);
  marker(1, 7, 'aid');
  ok($core->send_message({ AID => 7, SUBJECT => 'Ticket #5 assigned to you', MESSAGE => 'Line one' }), 'sent');
  my $pushes = $stack->wait_pushes([$device], 1);
  is($pushes->[0]{json}{notification}{title}, 'Ticket #5 assigned to you', 'SUBJECT became the title');
  # A client with the same number is another person.
  my $client_7 = $stack->subscribe_device(uid => 7);
  ok($core->send_message({ AID => 7, TITLE => 'admins only' }), 'sent again');
  $stack->wait_pushes([$device], 2);
  is(scalar @{ $stack->wait_pushes([$client_7], 1, 0.5) }, 0, 'uid 7 got nothing sent to aid 7');
};

subtest 'tickle: an empty push, the text waits at Herald for the device' => sub {
  my $device = $stack->subscribe_device(uid => 30);
  marker(0, 30, 'uid');
  ok($core->send_message({ UID => 30, TITLE => 'Outage tonight', MESSAGE => 'From 01:00 to 03:00', TICKLE => 1 }), 'sent');
  my $pushes = $stack->wait_pushes([$device], 1);
  is($pushes->[0]{payload}, undef, 'the push carries no data');
  is($pushes->[0]{error}, undef, 'and is well-formed');
  my $inbox = HTTP::Tiny->new->get($stack->url . "/api/v1/subscriptions/$device->{registration}{id}/messages",
    { headers => { Authorization => "Bearer $device->{registration}{secret}" } });
  my $messages = JSON::PP->new->utf8->decode($inbox->{content})->{messages};
  is($messages->[0]{title}, 'Outage tonight', 'the device fetches the title with its secret');
  is($messages->[0]{body}, 'From 01:00 to 03:00', 'and the body');
};

subtest 'a text too long for a push goes in tickle mode; an impossible character becomes U+FFFD' => sub {
  my $device = $stack->subscribe_device(uid => 31);
  my $plugin = Abills::Sender::Herald->new(\%conf);
  my $long = join "\n", map { "Строка $_ новостей провайдера" } 1 .. 300;    # ~ 14 KB of UTF-8
  is($plugin->send_message({ UID => 31, TITLE => 'News', MESSAGE => $long }), 1, 'a 14 KB message: sent')
    or diag "$plugin->{errno} $plugin->{errstr}";
  my $pushes = $stack->wait_pushes([$device], 1);
  is($pushes->[0]{payload}, undef, 'as a tickle');
  my $inbox = HTTP::Tiny->new->get($stack->url . "/api/v1/subscriptions/$device->{registration}{id}/messages",
    { headers => { Authorization => "Bearer $device->{registration}{secret}" } });
  my $messages = JSON::PP->new->utf8->decode($inbox->{content})->{messages};
  is($messages->[0]{body}, $long, 'the device fetches the whole text');

  is($plugin->send_message({ UID => 31, TITLE => "bad \x{D800} char", MESSAGE => "beyond \x{110000} Unicode" }), 1,
    'a lone surrogate and a code point above U+10FFFF: sent') or diag "$plugin->{errno} $plugin->{errstr}";
  $pushes = $stack->wait_pushes([$device], 2);
  is($pushes->[1]{json}{notification}{title}, "bad \x{FFFD} char", 'replaced in the title');
  is($pushes->[1]{json}{notification}{body}, "beyond \x{FFFD} Unicode", 'and in the body');
};

subtest 'wait: accepted means a push service accepted it; status by message id' => sub {
  my @devices = map { $stack->subscribe_device(uid => 40) } 1 .. 2;
  marker(0, 40, 'uid');
  local $conf{HERALD_WAIT} = 1;
  my $wait_core = SenderCoreStandIn->new($db, {}, \%conf, { SENDER_TYPE => 10, BASE_DIR => $base_dir });
  ok($wait_core->send_message({ UID => 40, TITLE => 'Payment received', MESSAGE => '100 UAH' }), 'sent with wait');
  my $plugin = $wait_core->plugin('Push');
  is($plugin->{targets}, 2, 'two devices targeted');
  is($plugin->{accepted}, 2, 'both accepted by the push service');
  my $status = $plugin->herald->message($plugin->{message_id});
  is($status->{accepted}, 2, 'message status: accepted 2');
  is($status->{pending}, 0, 'nothing pending');
  is($status->{status}, 'done', 'done');
  # A device whose push service says it is gone: targeted, but not accepted.
  my $gone = $stack->subscribe_device(uid => 41, status => 410);
  marker(0, 41, 'uid');
  ok(!$wait_core->send_message({ UID => 41, TITLE => 'to a dead device' }), 'nobody accepted: 0');
  is($wait_core->{errno}, 11, 'errno 11: not accepted');
  like($wait_core->{errstr}, qr/no push service accepted .*uid 41.*devices 1: failed 0, gone 1/, "errstr: $wait_core->{errstr}");
  # Herald pruned it (410): now the person has no device at all.
  ok(!$wait_core->send_message({ UID => 41, TITLE => 'nobody' }), 'no device left: 0');
  is($wait_core->{errno}, 10, 'errno 10: no device');
  like($wait_core->{errstr}, qr/uid 41 has no device/, 'errstr says so');
};

subtest 'Cyrillic title and body survive, as characters or as UTF-8 bytes' => sub {
  my $device = $stack->subscribe_device(uid => 50);
  marker(0, 50, 'uid');
  my ($title, $body) = ('Баланс низький', "Поповніть рахунок до 1-го числа.\nДякуємо!");
  ok($core->send_message({ UID => 50, TITLE => $title, MESSAGE => $body }), 'characters sent');
  my ($title_bytes, $body_bytes) = ($title, $body);
  utf8::encode($_) for $title_bytes, $body_bytes;    # what a database returns without a UTF-8 flag
  ok($core->send_message({ UID => 50, TITLE => $title_bytes, MESSAGE => $body_bytes }), 'bytes sent');
  my $pushes = $stack->wait_pushes([$device], 2);
  is(scalar @$pushes, 2, 'two pushes');
  for my $push (@$pushes) {
    is($push->{json}{notification}{title}, $title, 'title intact');
    is($push->{json}{notification}{body}, $body, 'body intact');
  }
};

subtest 'one call for a batch of contacts; a missing contact never reaches the plugin' => sub {
  my @devices = map { $stack->subscribe_device(uid => 60) } 1 .. 3;
  my $plugin = $core->plugin('Push');
  ok($plugin->support_batch, 'support_batch is true');
  my $calls_before = () = $core->calls;
  # What the core passes with several contacts: TO_ADDRESS joined, CONTACT an array.
  ok($plugin->send_message({ UID => 60, TITLE => 'batch', TO_ADDRESS => 'a,b,c',
    CONTACT => [ map { { type => 0, client_id => 60, value => $_ } } qw(a b c) ] }), 'batch sent');
  is($plugin->{targets}, 3, 'one Herald message to the three devices');
  is(scalar @{ $stack->wait_pushes(\@devices, 3) }, 3, 'each device got it once');
  ok($plugin->send_message({ TITLE => 'from contacts', CONTACT => [ { type => 0, client_id => 60 } ] }),
    'without UID the contact names the person');
  ok(!$core->send_message({ UID => 61, TITLE => 'nobody' }), 'uid without a marker: 0');
  is($core->{errno}, 2, 'the core says "No contact"');
  is(scalar(() = $core->calls), $calls_before, 'and did not call the plugin');
  ok(!$plugin->send_message({ TITLE => 'to whom?' }), 'no recipient: 0');
  is($plugin->{errno}, 2, 'errno 2');
  ok(!$plugin->send_message({ UID => 60 }), 'no text: 0');
  is($plugin->{errno}, 3, 'errno 3');
};

subtest 'Herald down: 0 with errstr, fast, and no die reaches the caller' => sub {
  my $port = free_port();    # nothing listens there
  my $down = SenderCoreStandIn->new($db, {}, { %conf, HERALD_URL => "http://127.0.0.1:$port", HERALD_TIMEOUT => 2 },
    { SENDER_TYPE => 'Push', BASE_DIR => $base_dir });
  my @died;
  local $SIG{__DIE__} = sub { push @died, @_ };
  my $sent = eval { $down->send_message({ UID => 2, TITLE => 'x', MESSAGE => 'y' }) };
  is($@, '', 'no exception');
  is($sent, 0, 'returns 0');
  is($down->{errno}, 599, 'errno 599');
  like($down->{errstr}, qr/unreachable.*127\.0\.0\.1:$port/, "errstr: $down->{errstr}");
  unlike($down->{errstr}, qr/\Q${\ ADMIN_TOKEN}\E/, 'no token in errstr');
  is(scalar @died, 0, "the caller's die handler saw nothing");

  # Even a failure inside the plugin's own code stays inside it.
  my $plugin = $core->plugin('Push');
  {
    no warnings 'redefine';
    local *Herald::Client::send_message = sub { die "something broke at some/file.pm line 3.\n" };
    is(eval { $plugin->send_message({ UID => 2, TITLE => 'x' }) }, 0, 'an internal die: 0, not an exception');
  }
  is($plugin->{errno}, 99, 'errno 99');
  like($plugin->{errstr}, qr/\AHerald plugin failed: something broke/, "errstr: $plugin->{errstr}");
  is(scalar @died, 0, "the caller's die handler saw none of it");

  # A Herald that accepts the connection and never answers: the timeout bounds the wait.
  my $silent = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp') or die $!;
  my $hung = SenderCoreStandIn->new($db, {}, { %conf, HERALD_URL => 'http://127.0.0.1:' . $silent->sockport, HERALD_TIMEOUT => 1 },
    { SENDER_TYPE => 'Push', BASE_DIR => $base_dir });
  my $started = time;
  is($hung->send_message({ UID => 2, TITLE => 'x' }), 0, 'a silent Herald: 0');
  cmp_ok(time - $started, '<', 5, 'within the timeout, not forever');
  like($hung->{errstr}, qr/unreachable.*(?:timed? ?out|Timeout)/i, "errstr: $hung->{errstr}");
};

subtest 'a wrong token: a clear error without the token in it' => sub {
  my $wrong = 'wrong-token-' . ('x' x 24);
  my $bad = SenderCoreStandIn->new($db, {}, { %conf, HERALD_TOKEN => $wrong }, { SENDER_TYPE => 'Push', BASE_DIR => $base_dir });
  is($bad->send_message({ UID => 2, TITLE => 'x' }), 0, 'returns 0');
  is($bad->{errno}, 401, 'errno 401');
  like($bad->{errstr}, qr/401 unauthorized: .*token/, "errstr: $bad->{errstr}");
  unlike($bad->{errstr}, qr/\Q$wrong\E/, 'the token is not in errstr');
};

subtest 'Herald refuses a bad field: its code and message come back' => sub {
  my $plugin = $core->plugin('Push');
  ok(!$plugin->send_message({ UID => 2, TITLE => 'x', URGENCY => 'urgent!' }), '0');
  is($plugin->{errno}, 422, 'errno 422');
  like($plugin->{errstr}, qr/invalid_field: .*urgency/, "errstr: $plugin->{errstr}");
};

$stack->stop;
done_testing;
