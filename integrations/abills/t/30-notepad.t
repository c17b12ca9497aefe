#!/usr/bin/perl
# Notepad reminders become Herald reminders: created, updated, fired, deleted.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";

use POSIX qw(strftime);
use Test::More;

use Herald::Client;
use Herald::Abills::Notepad;
use HeraldTest qw(start_stack free_port ADMIN_TOKEN);

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

my $stack = start_stack();
my %conf = (HERALD_URL => $stack->url, HERALD_TOKEN => ADMIN_TOKEN, HERALD_TIMEZONE => 'Europe/Kyiv');
my $herald = Herald::Client->new(url => $stack->url, token => ADMIN_TOKEN);
my $notepad = Herald::Abills::Notepad->new(conf => \%conf);

subtest 'a note typed in a textarea (CRLF, a stray control character) is taken' => sub {
  my $id = $notepad->save_note({ id => 90, aid => 4, subject => "Call\r\nthe bank", text => "Line one\r\nLine two\x07\r\n",
    remind_at => '2027-02-01 09:00' });
  ok($id, 'reminder created') or diag $notepad->errstr;
  my $reminder = $herald->reminder($id);
  is($reminder->{title}, 'Call the bank', 'the title is one line');
  is($reminder->{body}, "Line one\nLine two\n", 'the body has plain newlines');
  $notepad->delete_note(90);
};

subtest 'a note with a reminder: created in the time zone, updated, taken off' => sub {
  my $id = $notepad->save_note({ id => 17, aid => 4, subject => 'Backup', text => 'Check the tapes',
    remind_at => '2027-01-15 09:00:00' });
  ok($id, "reminder $id created") or diag $notepad->errstr;
  my $reminder = $herald->reminder($id);
  is($reminder->{tag}, 'abills-note-17', 'tagged with the note id');
  is_deeply($reminder->{to}, { aid => '4' }, 'to the administrator');
  is($reminder->{timezone}, 'Europe/Kyiv', 'in the configured time zone');
  is($reminder->{nextFireAt}, '2027-01-15T07:00:00.000Z', '09:00 in Kyiv is 07:00 UTC in winter');
  is($reminder->{title}, 'Backup', 'title');
  is($reminder->{body}, 'Check the tapes', 'body');

  is($notepad->save_note({ id => 17, aid => 4, subject => 'Backup!', text => '',
    remind_at => '2027-01-16 10:30' }), $id, 'saved again: the same reminder');
  $reminder = $herald->reminder($id);
  is($reminder->{nextFireAt}, '2027-01-16T08:30:00.000Z', 'moved');
  is($reminder->{title}, 'Backup!', 'retitled');
  ok(!exists $reminder->{body} || !defined $reminder->{body}, 'an emptied text removes the body');
  is(scalar(grep { ($_->{tag} // '') eq 'abills-note-17' } @{ $herald->reminders->{reminders} }), 1, 'still one reminder for the note');

  is($notepad->save_note({ id => 17, aid => 4, subject => 'Backup!', remind_at => '' }), '0', 'reminder taken off: "0"');
  ok(!$herald->reminder($id), 'deleted from Herald');
  is($herald->errno, 404, 'Herald answers 404 for it');
  is($notepad->save_note({ id => 17, aid => 4, subject => 'no reminder' }), '0', 'a note without a reminder stays without one');

  ok($notepad->save_note({ id => 18, aid => 4, subject => 'Weekly', schedule => { weekly => { days => ['mon'], time => '08:15' } } }),
    'a repeating schedule');
  ok($notepad->delete_note(18), 'the note is deleted');
  is($notepad->find_reminder(18), 0, 'and so is its reminder');
  ok($notepad->delete_note(18), 'deleting again is fine');
};

subtest 'the reminder fires and reaches the administrator\'s devices' => sub {
  my @devices = map { $stack->subscribe_device(aid => 9) } 1 .. 2;
  my $utc = Herald::Abills::Notepad->new(conf => { %conf, HERALD_TIMEZONE => 'UTC' });
  my $at = strftime('%Y-%m-%d %H:%M:%S', gmtime(time + 2));
  my $id = $utc->save_note({ id => 19, aid => 9, subject => 'Зателефонувати клієнту', text => 'Договір №42', remind_at => $at });
  ok($id, "reminder at $at UTC") or diag $utc->errstr;
  my $pushes = $stack->wait_pushes(\@devices, 2, 20);
  is(scalar @$pushes, 2, 'both devices got it');
  for my $push (@$pushes) {
    is($push->{json}{notification}{title}, 'Зателефонувати клієнту', 'title');
    is($push->{json}{notification}{body}, 'Договір №42', 'body');
    is($push->{json}{notification}{tag}, 'abills-note-19', 'tag: a newer reminder of the note replaces it');
  }
  my $fired = $herald->reminder($id);
  is($fired->{fired}, 1, 'fired once');
};

subtest 'failures come back as errstr' => sub {
  ok(!defined $notepad->save_note({ id => 20, aid => 4, remind_at => 'tomorrow' }), 'a time that is not a time');
  like($notepad->errstr, qr/remind_at "tomorrow"/, 'errstr: ' . $notepad->errstr);
  ok(!defined $notepad->save_note({ id => 20, remind_at => '2027-01-01 09:00' }), 'no aid');
  like($notepad->errstr, qr/aid/, 'errstr names it');
  ok(!defined $notepad->save_note({ id => 20, aid => 4, subject => 'past', remind_at => '2020-01-01 09:00' }), 'a past time');
  like($notepad->errstr, qr/422/, 'Herald refuses it: ' . $notepad->errstr);
  my $down = Herald::Abills::Notepad->new(conf => { %conf, HERALD_URL => 'http://127.0.0.1:' . free_port() });
  ok(!defined $down->save_note({ id => 21, aid => 4, remind_at => '2027-01-01 09:00' }), 'Herald down');
  like($down->errstr, qr/unreachable/, 'errstr: ' . $down->errstr);
};

$stack->stop;
done_testing;
