#!/usr/bin/perl
# What a real Herald never does, but a proxy, a broken network or a hostile server might:
# slow answers, redirects, answers that are not Herald's, multi-line error texts. And odd
# calls of the plugin. A scripted HTTP server stands in for Herald; no Herald needed.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";

use JSON::PP ();
use Test::More;
use Time::HiRes qw(time);

use Abills::Sender::Herald;
use Herald::Client;
use Herald::Abills::Subscribe;
use ScriptedServer;

my $TOKEN = 'odd-answers-test-token-0123456789';
my $ACCEPTED = ScriptedServer->answer('202 Accepted', '{"id":"m1","targets":1}');

sub plugin_for {
  my ($server, %conf) = @_;
  return Abills::Sender::Herald->new({ HERALD_URL => $server->url, HERALD_TOKEN => $TOKEN, HERALD_TIMEOUT => 2, %conf });
}

subtest 'a trickled answer fails after HERALD_TIMEOUT, not after each byte' => sub {
  # Every byte comes well within the per-read timeout; the whole answer would take ~40 s.
  my $server = ScriptedServer->new(answers => [ { raw => $ACCEPTED . (' ' x 100), trickle => 0.3 } ]);
  my $client = Herald::Client->new(url => $server->url, token => $TOKEN, timeout => 1);
  my $started = time;
  ok(!$client->send_message({ to => { uid => 1 }, title => 'x' }), 'it fails');
  cmp_ok(time - $started, '<', 3, 'within about the timeout');
  is($client->errno, 599, 'as unreachable');
  like($client->errstr, qr/timed out after 1 s/, 'errstr says it timed out');
};

subtest 'a URL with a line break or space is refused (it would go into the request line)' => sub {
  for my $url ("http://127.0.0.1:9/x\r\nX-Injected: 1", 'http://127.0.0.1:9/a b') {
    my $client = Herald::Client->new(url => $url, token => $TOKEN);
    ok(!$client->is_ready, 'not ready');
    is($client->errno, 1, 'a setting error');
  }
};

subtest "a caller's alarm is left alone" => sub {
  my $server = ScriptedServer->new(answers => [$ACCEPTED]);
  my $client = Herald::Client->new(url => $server->url, token => $TOKEN, timeout => 1);
  my $fired = 0;
  local $SIG{ALRM} = sub { $fired++ };
  alarm 30;
  ok($client->send_message({ to => { uid => 1 }, title => 'x' }), 'sent');
  my $left = alarm 0;
  cmp_ok($left, '>', 25, "the caller's alarm is still set");
  is($fired, 0, 'and did not fire');
};

subtest "a caller's die handler does not see the client's network failures" => sub {
  my $port = do { my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0); my $p = $s->sockport; close $s; $p };
  my $client = Herald::Client->new(url => "http://127.0.0.1:$port", token => $TOKEN, timeout => 1);
  my $seen = 0;
  local $SIG{__DIE__} = sub { $seen++ };
  ok(!$client->healthy, 'Herald down: not healthy');
  is($seen, 0, 'the die handler was not called');
};

subtest 'a redirect is not followed: the token stays with Herald' => sub {
  my $elsewhere = ScriptedServer->new(answers => [ ScriptedServer->answer('200 OK', '{"id":"m1"}') ]);
  my $server = ScriptedServer->new(answers => [
    ScriptedServer->answer('302 Found', '', Location => $elsewhere->url . '/api/v1/messages/m1') ]);
  my $client = Herald::Client->new(url => $server->url, token => $TOKEN, timeout => 2);
  ok(!$client->message('m1'), 'the status request fails');
  is($client->errno, 302, 'with the redirect status');
  is(scalar @{ $elsewhere->requests }, 0, 'the other host got no request (and no token)');
};

subtest "answers that are not Herald's: errno 12, never the plugin's own codes" => sub {
  for my $case (
    [ 'an empty 200', ScriptedServer->answer('200 OK', '') ],
    [ 'a 204', "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n" ],
    [ 'an HTML page', ScriptedServer->answer('202 Accepted', '<h1>proxy</h1>', 'Content-Type' => 'text/html') ],
    [ 'a JSON array', ScriptedServer->answer('202 Accepted', '[]') ],
    [ 'a count that is not a number', ScriptedServer->answer('202 Accepted', '{"id":"m1","targets":"many"}') ],
  ) {
    my ($what, $raw) = @$case;
    my $server = ScriptedServer->new(answers => [$raw]);
    my $plugin = plugin_for($server);
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, @_ };
    is($plugin->send_message({ UID => 1, TITLE => 't' }), 0, "$what: 0");
    is($plugin->{errno}, 12, "$what: errno 12") or diag $plugin->{errstr};
    like($plugin->{errstr}, qr/Herald's answer/, "$what: errstr says so");
    is_deeply(\@warnings, [], "$what: no warnings");
  }
};

subtest "Herald's error text comes back on one line, without the token" => sub {
  my $server = ScriptedServer->new(answers => [ ScriptedServer->answer('422 Unprocessable Entity',
    JSON::PP->new->encode({ error => { code => 'invalid_field', message => "line one\r\nInjected: $TOKEN" } })) ]);
  my $plugin = plugin_for($server);
  is($plugin->send_message({ UID => 1, TITLE => 't' }), 0, '0');
  is($plugin->{errno}, 422, 'errno is the status');
  unlike($plugin->{errstr}, qr/[\r\n]/, 'one line');
  unlike($plugin->{errstr}, qr/\Q$TOKEN\E/, 'no token');
  like($plugin->{errstr}, qr/invalid_field: line one Injected: \[token\]/, "Herald's code and message");
};

subtest 'odd calls of the plugin' => sub {
  my $server = ScriptedServer->new(answers => [ ($ACCEPTED) x 2 ]);
  my $plugin = plugin_for($server);
  is($plugin->send_message({ UID => 1, AID => 2, TITLE => 'both' }), 0, 'UID and AID both: 0');
  is($plugin->{errno}, 2, 'errno 2');
  like($plugin->{errstr}, qr/UID or AID, not both/, 'errstr says which');
  is(scalar @{ $server->requests }, 0, 'nothing was sent');

  is($plugin->send_message({ UID => 1, TITLE => '  ', SUBJECT => 'Ticket #5' }), 1, 'a blank TITLE and a SUBJECT: sent');
  is($plugin->send_message({ UID => 1, TITLE => '', SUBJECT => 'Ticket #6', MESSAGE => 'body' }), 1, 'an empty TITLE: sent');
  my @titles = map { JSON::PP->new->decode($_->{body})->{title} } @{ $server->requests };
  is_deeply(\@titles, [ 'Ticket #5', 'Ticket #6' ], 'the SUBJECT became the title');
};

subtest "the subscribe handler's body reader: a huge CONTENT_LENGTH costs no memory" => sub {
  my $small = '{}';
  open my $fh, '<', \$small or die;
  local $ENV{CONTENT_LENGTH} = '10000000000000';    # 10 TB claimed: a plain read() dies "Out of memory!"
  is(Herald::Abills::Subscribe->read_body($fh), '{}', 'reads what is there');

  my $big = '{"x":"' . ('a' x 100_000) . '"}';
  open $fh, '<', \$big or die;
  my $body = Herald::Abills::Subscribe->read_body($fh, length $big);
  is(length $body, 16 * 1024 + 1, 'at most one byte over the limit');
  my $handler = Herald::Abills::Subscribe->new(herald => Herald::Client->new(url => 'http://127.0.0.1:9', token => $TOKEN));
  my ($status) = $handler->handle(uid => 1, action => 'token', method => 'POST',
    content_type => 'application/json', body => $body);
  is($status, 413, 'which the handler answers with 413');

  open $fh, '<', \$small or die;
  is(Herald::Abills::Subscribe->read_body($fh, 'abc'), '', 'a CONTENT_LENGTH that is not a number: nothing');
};

subtest 'text bytes: UTF-8 cut inside a character stays UTF-8; Latin-1 stays Latin-1' => sub {
  my $cut = "\xd0\x9f\xd1\x80\xd0\xb8\xd0";    # "При" and the first byte of another letter
  is(Herald::Client::chars($cut), "\x{41f}\x{440}\x{438}\x{FFFD}", 'a cut UTF-8 text: the broken byte is U+FFFD');
  is(Herald::Client::chars("caf\xe9"), "caf\x{e9}", 'Latin-1 bytes: read as Latin-1');
  is(Herald::Client::chars("\xd0\x9f\xd1\x80"), "\x{41f}\x{440}", 'whole UTF-8: decoded');
};

done_testing;
