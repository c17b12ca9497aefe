#!/usr/bin/perl
# The subscribe handler: owner tokens and server-side registration for the logged-in person,
# the marker contacts the sender core looks for, and the CGI entry point's rules.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";

use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use JSON::PP ();
use Test::More;

use Herald::Client;
use Herald::Abills::Contacts;
use Herald::Abills::Subscribe;
use HeraldTest qw(start_stack free_port ADMIN_TOKEN);
use FakeDbh;
use SenderCoreStandIn;

my $JSON = JSON::PP->new->utf8->canonical;
my $stack = start_stack();
my %conf = (HERALD_URL => $stack->url, HERALD_TOKEN => ADMIN_TOKEN, HERALD_PUBLIC_URL => 'https://push.isp.example');

my $base_dir = tempdir(CLEANUP => 1);
make_path("$base_dir/lib/Abills/Sender");
copy("$FindBin::Bin/../share/Push.pm", "$base_dir/lib/Abills/Sender/Push.pm") or die "copy Push.pm: $!";

my $db = FakeDbh->new;
my $subscribe = Herald::Abills::Subscribe->new(conf => \%conf, db => $db);
my $core = SenderCoreStandIn->new($db, {}, \%conf, { SENDER_TYPE => 'Push', BASE_DIR => $base_dir });
my $herald = Herald::Client->new(url => $stack->url, token => ADMIN_TOKEN);

subtest 'owner token → the browser registers itself → the core reaches it' => sub {
  ok(!$core->send_message({ UID => 100, TITLE => 'before' }), 'before subscribing: no contact');
  is($core->{errno}, 2, 'error 2');

  my ($status, $json) = $subscribe->handle(uid => 100, action => 'token', method => 'POST',
    content_type => 'application/json', body => '{}');
  is($status, 200, 'the handler answers 200');
  my $answer = $JSON->decode($json);
  like($answer->{ownerToken}, qr/\A[\w-]+\.[\w-]+\.[\w-]+\z/, 'an owner token (a JWT)');
  is($answer->{api}, 'https://push.isp.example', "Herald's public URL for herald.js");
  ok($answer->{expiresAt}, 'with its expiry');
  is_deeply([ map { $_->{endpoint} } $db->rows ], ['herald:uid:100'], 'one marker row for uid 100');
  is(($db->rows)[0]{type}, 0, 'of type 0 (client)');

  # What herald.js does in the browser with that token: no admin token involved.
  my @devices = map { $stack->new_device } 1 .. 2;
  my $browser = Herald::Client->new(url => $stack->url, token => 'unused-by-owner-token-registration');
  for my $device (@devices) {
    my $registered = $browser->register_subscription(subscription => $device->{subscription}, owner_token => $answer->{ownerToken});
    ok($registered && $registered->{id} && $registered->{secret}, 'the browser registered with the owner token')
      or diag $browser->errstr;
  }
  my $list = $herald->subscriptions(uid => 100);
  is($list->{total}, 2, 'Herald lists two devices of uid 100');
  is($list->{subscriptions}[0]{uid}, '100', 'owned by uid 100');

  ok($core->send_message({ UID => 100, TITLE => 'Welcome', MESSAGE => 'Notifications are on' }), 'the core sends')
    or diag $core->{errstr};
  my $pushes = $stack->wait_pushes(\@devices, 2);
  is(scalar @$pushes, 2, 'both devices got it');
  is($_->{json}{notification}{title}, 'Welcome', 'decrypted title') for @$pushes;

  $subscribe->handle(uid => 100, action => 'token', method => 'POST', content_type => 'application/json', body => '');
  is(scalar(() = $db->rows), 1, 'asking again keeps one marker row');
};

subtest 'an administrator subscribes from the profile page' => sub {
  my $token = $subscribe->owner_token(aid => 3) or diag $subscribe->errstr;
  ok($token->{ownerToken}, 'an owner token for aid 3');
  ok($db->newest_contact(1, 3), 'a marker of type 1 (admin) for aid 3');
  my $device = $stack->new_device;
  ok($herald->register_subscription(subscription => $device->{subscription}, owner_token => $token->{ownerToken}), 'registered');
  ok($core->send_message({ AID => 3, TITLE => 'Reminder' }), 'sent to aid 3');
  is(scalar @{ $stack->wait_pushes([$device], 1) }, 1, 'arrived');
};

subtest 'server-side registration (herald.js registerUrl) and unregistration' => sub {
  my $device = $stack->new_device;
  my ($status, $json) = $subscribe->handle(uid => 200, action => 'register', method => 'POST',
    content_type => 'application/json; charset=utf-8', body => $JSON->encode({ subscription => $device->{subscription} }));
  is($status, 201, 'the handler answers 201');
  my $registered = $JSON->decode($json);
  ok($registered->{id} && $registered->{secret}, '{id, secret} for herald.js');
  ok($db->newest_contact(0, 200), 'marker written');
  ok($core->send_message({ UID => 200, TITLE => 'server-side' }), 'the core sends');
  is(scalar @{ $stack->wait_pushes([$device], 1) }, 1, 'arrived');

  # Another person cannot remove this device.
  ($status, $json) = $subscribe->handle(uid => 201, action => 'unregister', method => 'POST',
    content_type => 'application/json', body => $JSON->encode({ id => $registered->{id} }));
  is($status, 404, "someone else's device: 404");
  is($JSON->decode($json)->{error}{code}, 'not_found', 'with the code not_found');
  ($status, $json) = $subscribe->handle(uid => 201, action => 'unregister', method => 'POST',
    content_type => 'application/json', body => $JSON->encode({ id => "$registered->{id}' OR '1'='1" }));
  is($status, 404, 'an id with SQL in it: 404');
  is($herald->subscriptions(uid => 200)->{total}, 1, 'still there');

  ($status, $json) = $subscribe->handle(uid => 200, action => 'unregister', method => 'POST',
    content_type => 'application/json', body => $JSON->encode({ id => $registered->{id} }));
  is($status, 200, 'the owner removes it') or diag $json;
  is($herald->subscriptions(uid => 200)->{total}, 0, 'gone from Herald');
  ok(!$db->newest_contact(0, 200), 'the last device gone: the marker is removed');
  ok(!$core->send_message({ UID => 200, TITLE => 'x' }), 'the core no longer sends');
  is($core->{errno}, 2, 'No contact');

  ($status, $json) = $subscribe->handle(uid => 200, action => 'register', method => 'POST',
    content_type => 'application/json', body => $JSON->encode({ subscription => { endpoint => 'ftp://nope', keys => {} } }));
  is($status, 422, "a subscription Herald refuses: Herald's 422");
  like($JSON->decode($json)->{error}{message}, qr/\S/, 'with its message');
};

subtest "server-side registration passes on the browser's languages and time zone, not tags" => sub {
  use utf8;
  my $device = $stack->new_device;
  # What herald.js posts to a registerUrl.
  my ($status, $json) = $subscribe->handle(uid => 210, action => 'register', method => 'POST',
    content_type => 'application/json', body => $JSON->encode({
      subscription => $device->{subscription}, languages => ['uk-UA', 'uk', 'en'], timeZone => 'UTC',
      tags => ['tariff:business'] }));
  is($status, 201, 'the handler answers 201') or diag $json;
  my $listed = $herald->subscriptions(uid => 210)->{subscriptions};
  is_deeply($listed->[0]{tags}, [], 'the tags the browser sent are not applied');

  # The languages: the device gets the Ukrainian text.
  my $sent = $herald->send_message({ to => { uid => 210 }, title => { default => 'Outage', uk => "Відключення" },
    body => { default => 'Tonight', uk => "Сьогодні" } }, wait => 1);
  ok($sent, 'sent a message in two languages') or diag $herald->errstr;
  my ($push) = @{ $stack->wait_pushes([$device], 1) };
  is($push->{json}{notification}{title}, "Відключення", 'the title in Ukrainian');
  is($push->{json}{notification}{body}, "Сьогодні", 'the body in Ukrainian');

  # The time zone: quiet hours around the present UTC time hold the push for this device.
  my ($h, $m) = (gmtime)[2, 1];
  my $hhmm = sub { my $minutes = ($h * 60 + $m + shift) % 1440; sprintf '%02d:%02d', int($minutes / 60), $minutes % 60 };
  my $held = $herald->send_message({ to => { uid => 210 }, title => 'At night',
    quietHours => { from => $hhmm->(-60), to => $hhmm->(60) } });
  ok($held && $held->{targets} == 1, 'a message with quiet hours around now') or diag $herald->errstr;
  is(scalar @{ $stack->wait_pushes([$device], 2, 2) }, 1, 'held: only the first push arrived');
  is($herald->message($held->{id})->{pending}, 1, 'the held push is pending');

  # Values of the wrong shape are left out; the device still subscribes.
  my $odd = $stack->new_device;
  ($status, $json) = $subscribe->handle(uid => 211, action => 'register', method => 'POST',
    content_type => 'application/json', body => $JSON->encode({
      subscription => $odd->{subscription}, languages => 'uk', timeZone => { name => 'UTC' } }));
  is($status, 201, 'odd languages and timeZone: still 201') or diag $json;
};

subtest 'the handler takes only JSON POSTs from a logged-in person' => sub {
  my %ok = (uid => 300, action => 'token', method => 'POST', content_type => 'application/json', body => '{}');
  my @cases = (
    [ { %ok, uid => undef }, 401, 'not logged in' ],
    [ { %ok, method => 'GET' }, 405, 'GET' ],
    [ { %ok, content_type => 'application/x-www-form-urlencoded' }, 415, 'a form post (CSRF)' ],
    [ { %ok, content_type => 'text/plain' }, 415, 'text/plain (CSRF)' ],
    [ { %ok, body => 'not json' }, 400, 'a body that is not JSON' ],
    [ { %ok, body => '[1]' }, 400, 'a JSON array' ],
    [ { %ok, body => 'x' x 20000 }, 413, 'a huge body' ],
    [ { %ok, action => 'delete_everything' }, 404, 'an unknown action' ],
    [ { %ok, action => 'register' }, 400, 'register without a subscription' ],
  );
  for my $case (@cases) {
    my ($request, $expected, $name) = @$case;
    my ($status, $json) = $subscribe->handle(%$request);
    is($status, $expected, "$name: $expected");
    ok(eval { $JSON->decode($json)->{error}{code} }, "$name: a JSON error");
  }
  ok(!$db->newest_contact(0, 300), 'none of them wrote a marker');
};

subtest 'Herald down or a wrong token: 502 for the browser, the reason for the log' => sub {
  for my $broken ({ HERALD_URL => 'http://127.0.0.1:' . free_port() }, { HERALD_TOKEN => 'not-the-right-token-at-all' }) {
    my $handler = Herald::Abills::Subscribe->new(conf => { %conf, %$broken }, db => $db);
    my ($status, $json) = $handler->handle(uid => 400, action => 'token', method => 'POST',
      content_type => 'application/json', body => '{}');
    is($status, 502, 'the handler answers 502');
    unlike($json, qr/127\.0\.0\.1|not-the-right|admin-token/, 'no internals in the answer');
    like($handler->errstr, qr/unreachable|401 unauthorized/, 'errstr: ' . $handler->errstr);
    ok(!$db->newest_contact(0, 400), 'no marker without a token');
  }
};

subtest 'the marker contacts on a database handle' => sub {
  my $dbh = FakeDbh->new;
  ok(!Herald::Abills::Contacts->new(undef), 'no handle: undef');
  ok(!Herald::Abills::Contacts->new($dbh, table => 'x; DROP TABLE y'), 'a table name that is not a name: undef');
  my $contacts = Herald::Abills::Contacts->new({ db => $dbh });
  ok($contacts, 'an object holding the handle in {db} works');
  $dbh->insert_row(type => 0, client_id => 5, endpoint => 'https://old.push/endpoint');
  is($contacts->has_marker(uid => 5), 0, 'an old row is not a marker');
  ok($contacts->add_marker(uid => 5), 'added');
  ok($contacts->add_marker(uid => 5), 'added again');
  is($contacts->has_marker(uid => 5), 1, 'present');
  is($contacts->has_marker(aid => 5), 0, 'aid 5 is another person');
  is($dbh->newest_contact(0, 5)->{endpoint}, 'herald:uid:5', 'the marker is the newest row the core reads');
  is(scalar(grep { $_->{endpoint} =~ /^herald:/ } $dbh->rows), 1, 'one marker row');
  ok($contacts->remove_marker(uid => 5), 'removed');
  is_deeply([ map { $_->{endpoint} } $dbh->rows ], ['https://old.push/endpoint'], 'only the marker went');
  $dbh->{fail} = 1;
  ok(!$contacts->add_marker(uid => 6), 'a database error: false');
  like($contacts->errstr, qr/push_contacts .*gone away/, 'errstr: ' . $contacts->errstr);
  ok(!$contacts->add_marker(pid => 6), 'an unknown kind: false');
};

$stack->stop;
done_testing;
