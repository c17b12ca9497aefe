#!/usr/bin/perl
# Herald::Client's methods against a real Herald, and its errors.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";

use Data::Dumper;
use POSIX qw(strftime);
use Test::More;

use Herald::Client;
use HeraldTest qw(start_stack ADMIN_TOKEN);

subtest 'settings are checked before any request' => sub {
  for my $case (
    [ {}, qr/URL must start with http/ ],
    [ { url => 'herald.example.com', token => 'x' }, qr/URL must start with http/ ],
    [ { url => 'https://user:pw@herald.example.com', token => 'x' }, qr/credentials/ ],
    [ { url => 'http://127.0.0.1:1' }, qr/token is not set/ ],
    [ { url => 'http://127.0.0.1:1', token => 'x', timeout => 'soon' }, qr/timeout/ ],
    [ { url => 'http://127.0.0.1:1', token => "secret-token\n" }, qr/printable ASCII without spaces/ ],
  ) {
    my $client = Herald::Client->new(%{ $case->[0] });
    ok(!$client->is_ready, 'not ready');
    like($client->errstr, $case->[1], $client->errstr);
    ok(!$client->send_message({ to => { uid => 1 }, title => 'x' }), 'and every call fails');
    like($client->errstr, $case->[1], 'with the same reason');
  }
  my $client = Herald::Client->new(url => 'http://127.0.0.1:1/', token => 'secret-token-value-123');
  unlike(Dumper($client), qr/secret-token-value-123/, 'a dumped client does not show the token');
  ok(!$client->owner_token(uid => 1, aid => 2), 'owner_token with both uid and aid');
  is($client->errno, 2, 'errno 2: a bad argument');
  ok(!$client->send_message({ title => 'x' }), 'send_message without "to"');
  ok(!$client->register_subscription(subscription => 'not json', uid => 1), 'a subscription that is not JSON');
};

subtest 'https needs IO::Socket::SSL' => sub {
  my ($can) = HTTP::Tiny->can_ssl;
  is(Herald::Client->new(url => 'https://herald.example.com', token => 'x')->is_ready, $can ? 1 : 0,
    'ready exactly when this Perl can speak TLS');
  no warnings 'redefine';
  local *HTTP::Tiny::can_ssl = sub { (0, "IO::Socket::SSL 1.42 must be installed for https support\n") };
  my $client = Herald::Client->new(url => 'https://herald.example.com', token => 'x');
  ok(!$client->is_ready, 'without TLS support: not ready');
  like($client->errstr, qr/https but this Perl cannot speak TLS .*install IO::Socket::SSL/, $client->errstr);
  ok(Herald::Client->new(url => 'http://herald.example.com', token => 'x')->is_ready, 'http needs nothing');
};

my $stack = start_stack();
my $herald = Herald::Client->new(url => $stack->url . '/', token => ADMIN_TOKEN);

subtest 'public endpoints' => sub {
  is($herald->healthy, 1, 'healthy');
  like($herald->vapid_public_key, qr/\A[A-Za-z0-9_-]{86,88}\z/, 'the VAPID public key');
};

subtest 'owner tokens, registration, listing, removal' => sub {
  my $token = $herald->owner_token(aid => 'ops-1', ttl => 60);
  ok($token->{ownerToken}, 'an owner token for a string aid');
  my @devices = map { $stack->new_device } 1 .. 3;
  my @ids;
  for my $device (@devices) {
    my $registered = $herald->register_subscription(subscription => JSON::PP->new->encode($device->{subscription}), aid => 'ops-1');
    ok($registered->{secret}, 'registered from JSON text') or diag $herald->errstr;
    push @ids, $registered->{id};
  }
  my $again = $herald->register_subscription(subscription => $devices[0]{subscription}, aid => 'ops-1');
  is($again->{id}, $ids[0], 'the same endpoint again: the same id');
  my $page = $herald->subscriptions(aid => 'ops-1', limit => 2);
  is($page->{total}, 3, 'total 3');
  is(scalar @{ $page->{subscriptions} }, 2, 'a page of 2');
  my $rest = $herald->subscriptions(aid => 'ops-1', limit => 2, after => $page->{subscriptions}[-1]{id});
  is(scalar @{ $rest->{subscriptions} }, 1, 'and the rest');
  is($herald->unregister_subscription($ids[1]), 1, 'removed one device');
  is($herald->subscriptions(aid => 'ops-1')->{total}, 2, 'two left');
  ok(!$herald->unregister_subscription('no/such id'), 'an unknown id');
  is($herald->errno, 404, 'errno 404');
  is($herald->error_code, 'not_found', "Herald's code");
};

subtest 'messages: send, status, list, schedule and cancel' => sub {
  my $device = $stack->subscribe_device(uid => 'c-9');
  my $sent = $herald->send_message({ to => { uid => 'c-9' }, title => 'Hi', ttl => 60, urgency => 'high', topic => 'balance' }, wait => 1);
  is($sent->{accepted}, 1, 'wait: accepted 1');
  my $pushes = $stack->wait_pushes([$device], 1);
  is($pushes->[0]{urgency}, 'high', 'urgency reached the push service');
  is($pushes->[0]{topic}, 'balance', 'and the topic');
  ok($pushes->[0]{ttl} > 50 && $pushes->[0]{ttl} <= 60, "and the TTL (what is left of 60 s: $pushes->[0]{ttl})");
  my $listed = $herald->messages(limit => 1);
  is($listed->{messages}[0]{id}, $sent->{id}, 'the newest message');
  my $later = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + 3600));
  my $scheduled = $herald->send_message({ to => { uid => 'c-9' }, title => 'Later', sendAt => $later });
  is($scheduled->{status}, 'scheduled', 'scheduled');
  is($herald->cancel_message($scheduled->{id}), 1, 'cancelled');
  is($herald->message($scheduled->{id})->{status}, 'cancelled', 'its status says so');
  ok(!$herald->send_message({ to => { uid => 'c-9' }, title => ' ' }), 'a blank title');
  is($herald->errno, 422, 'errno 422');
  like($herald->errstr, qr/\AHerald refused POST \/api\/v1\/messages: 422 invalid_field: /, $herald->errstr);
};

$stack->stop;
done_testing;
