package Herald::Abills::Notepad;

# Notepad reminders as Herald reminders: when a note with a reminder is saved, its Herald
# reminder is created or updated; when the reminder is taken off or the note is deleted,
# it is deleted. Herald's scheduler then sends it, so the daily daemon plugin that used to
# send Notepad reminders is no longer needed.
#
# The note id travels in the reminder's tag ("abills-note-17"), so no table of our own is
# needed to find a note's reminder again; the tag also makes a newer notification of the
# same note replace the older one on the device.

use strict;
use warnings;

use Herald::Client;
use JSON::PP ();

our $VERSION = '0.1.0';

my $TAG_PREFIX = 'abills-note-';
my $PAGE = 1000;

sub new {
  my ($class, %args) = @_;
  my $conf = $args{conf} || {};
  my $herald = $args{herald} || Herald::Client->new(
    url     => $conf->{HERALD_URL},
    token   => $conf->{HERALD_TOKEN},
    timeout => $conf->{HERALD_TIMEOUT} || 5,
    exists $conf->{HERALD_VERIFY_SSL} ? (verify_SSL => $conf->{HERALD_VERIFY_SSL}) : (),
  );
  return bless {
    herald   => $herald,
    timezone => $args{timezone} // $conf->{HERALD_TIMEZONE} // 'UTC',
    url      => $args{url} // $conf->{HERALD_NOTEPAD_URL},
    errstr   => '',
  }, $class;
}

sub errstr { return $_[0]{errstr} }

sub tag_of_note { return $TAG_PREFIX . $_[1] }

# Creates, updates or deletes the note's reminder so that it matches the note. Returns the
# reminder id when the note has a reminder, "0" when it has none (any old one is deleted),
# undef with errstr on failure.
sub save_note {
  my ($self, $note) = @_;
  return $self->_fail('save_note needs a note with an id') if ref $note ne 'HASH' || !_id_ok($note->{id});
  my $existing = $self->find_reminder($note->{id});
  return if !defined $existing;

  my $schedule = $note->{schedule};
  if (!$schedule && defined $note->{remind_at} && $note->{remind_at} ne '') {
    my $at = _local_time($note->{remind_at})
      or return $self->_fail("remind_at \"$note->{remind_at}\" is not YYYY-MM-DD HH:MM[:SS]");
    $schedule = { at => $at };
  }
  if (!$schedule || $note->{done}) {
    return '0' if !$existing;
    $self->{herald}->delete_reminder($existing->{id}) or return $self->_herald_failed;
    return '0';
  }
  return $self->_fail('a note with a reminder needs the aid of the administrator to remind')
    if !defined $note->{aid} || $note->{aid} eq '';

  # A textarea sends CRLF, and Herald refuses control characters other than newline and tab.
  my $text = defined $note->{text} ? Herald::Client::chars($note->{text}) : '';
  $text =~ s/\r\n?/\n/g;
  $text =~ s/[\x00-\x08\x0b-\x1f\x7f-\x9f]//g;
  my $title = Herald::Client::chars($note->{subject});
  if (!defined $title || $title !~ /\S/) {
    ($title) = $text =~ /\A\s*([^\n]*\S)/;
    $title = 'Reminder' if !defined $title;
  }
  $title =~ s/[\s\x00-\x1f\x7f-\x9f]+/ /g;
  $title =~ s/\A | \z//g;
  $title = substr($title, 0, 256);
  my %fields = (
    to       => { aid => "$note->{aid}" },
    title    => $title,
    body     => ($text =~ /\S/ ? substr($text, 0, 16000) : undef),
    url      => $note->{url} // $self->{url},
    tag      => $self->tag_of_note($note->{id}),
    schedule => $schedule,
    timezone => $note->{timezone} // $self->{timezone},
    paused   => JSON::PP::false,
  );
  my $reminder;
  if ($existing) {
    $reminder = $self->{herald}->update_reminder($existing->{id}, \%fields) or return $self->_herald_failed;
  }
  else {
    delete @fields{ grep { !defined $fields{$_} } keys %fields };
    $reminder = $self->{herald}->create_reminder(\%fields) or return $self->_herald_failed;
  }
  return $reminder->{id};
}

# Deletes the note's reminder, if it has one. 1 on success.
sub delete_note {
  my ($self, $note_id) = @_;
  return $self->_fail('delete_note needs a note id') if !_id_ok($note_id);
  my $existing = $self->find_reminder($note_id);
  return if !defined $existing;
  return 1 if !$existing;
  $self->{herald}->delete_reminder($existing->{id}) or return $self->_herald_failed;
  return 1;
}

# The note's Herald reminder (a hash), 0 when it has none, undef with errstr on failure.
sub find_reminder {
  my ($self, $note_id) = @_;
  my $tag = $self->tag_of_note($note_id);
  my $after;
  while (1) {
    my $page = $self->{herald}->reminders(limit => $PAGE, defined $after ? (after => $after) : ())
      or return $self->_herald_failed;
    my $reminders = $page->{reminders} || [];
    for my $reminder (@$reminders) {
      return $reminder if ($reminder->{tag} // '') eq $tag;
    }
    return 0 if @$reminders < $PAGE;
    $after = $reminders->[-1]{id};
  }
}

sub _id_ok {
  my ($id) = @_;
  return defined $id && $id =~ /\A[A-Za-z0-9_.:-]{1,64}\z/;
}

# "2026-12-01 09:00[:00]" (the billing system's form) as Herald's local "2026-12-01T09:00:00";
# an RFC 3339 time with an offset is passed on as it is.
sub _local_time {
  my ($text) = @_;
  $text =~ s/\A\s+|\s+\z//g;
  my ($date, $time, $rest) = $text =~ /\A(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d(?::\d\d)?)(.*)\z/ or return;
  return "${date}T$time$rest" if $rest =~ /\A(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)\z/;
  return if $rest ne '';
  $time .= ':00' if length $time == 5;
  return "${date}T$time";
}

sub _herald_failed {
  my ($self) = @_;
  return $self->_fail($self->{herald}->errstr);
}

sub _fail {
  my ($self, $why) = @_;
  $self->{errstr} = $why;
  return;
}

1;

__END__

=encoding utf8

=head1 NAME

Herald::Abills::Notepad - Notepad reminders as Herald reminders

=head1 SYNOPSIS

  use Herald::Abills::Notepad;
  my $notepad = Herald::Abills::Notepad->new(conf => \%conf);   # HERALD_TIMEZONE => 'Europe/Kyiv'

  # after the Notepad module saved a note
  defined $notepad->save_note({
    id        => $note_id,
    aid       => $admin->{AID},
    subject   => $FORM{SUBJECT},
    text      => $FORM{TEXT},
    remind_at => $FORM{REMINDER},     # '2026-12-01 09:00:00', or empty for none
  }) or warn 'Herald reminder: ' . $notepad->errstr;

  # after it deleted a note
  $notepad->delete_note($note_id);

=head1 DESCRIPTION

Each note with a reminder gets one Herald reminder that sends the note to the
administrator's devices at the reminder's time (read in the time zone given by
C<HERALD_TIMEZONE>, default UTC; Herald keeps it right across daylight-saving changes). The
note id is kept in the reminder's C<tag> (C<abills-note-ID>), so nothing else is stored.
Needs a token that may manage reminders (the C<send> scope or the admin token).

=head1 METHODS

=head2 new(conf => \%conf | herald => $client, timezone => 'Europe/Kyiv', url => '/admin/...')

C<url>: the link the notification opens (default C<$conf{HERALD_NOTEPAD_URL}>, else none).

=head2 save_note(\%note)

C<%note>: C<id>, C<aid> (who is reminded), C<subject> (the title; else the first line of
C<text>), C<text>, and either C<remind_at> (C<YYYY-MM-DD HH:MM[:SS]> local time, or RFC 3339
with an offset) or C<schedule> (any Herald schedule, e.g. C<< {daily => '09:00'} >>);
optional C<timezone>, C<url>, and C<done> (true: the reminder is taken off). Creates the
reminder, or updates the one the note already has (a new time is a new schedule), or deletes
it when the note no longer has one. Returns the reminder id, C<"0"> when the note has no
reminder, undef with C<errstr> on failure (Herald refuses a one-off time in the past).

=head2 delete_note($note_id)

Deletes the note's reminder if there is one. 1 on success.

=head2 find_reminder($note_id)

The reminder (Herald's JSON as a hash), 0 when the note has none, undef on failure.

=head2 tag_of_note($note_id)

C<abills-note-$note_id>.

=cut
