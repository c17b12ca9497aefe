package Abills::Sender::Herald;

# A Sender plugin of the billing system that sends through Herald: one Herald message per
# call, to every device of the client (UID) or administrator (AID).

use strict;
use warnings;

use Herald::Client;

our $VERSION = '0.1.0';

# Inside the billing system every sender has the plugin base class as parent; outside it
# (tests, a one-line check) the plugin stands alone.
our @ISA;
BEGIN {
  push @ISA, 'Abills::Sender::Plugin' if eval { require Abills::Sender::Plugin; 1 };
}

# errno of send_message (besides Herald's HTTP status, and 599 when Herald is unreachable).
use constant {
  E_NO_RECIPIENT => 2,   # no UID, AID or Herald contact in the call
  E_NO_TEXT      => 3,   # neither TITLE/SUBJECT nor MESSAGE
  E_NO_DEVICE    => 10,  # Herald knows no device of this person
  E_NOT_ACCEPTED => 11,  # (wait mode) no push service accepted it
  E_BAD_ANSWER   => 12,  # Herald's answer was not what it documents (a proxy's page?)
  E_INTERNAL     => 99,  # the plugin itself failed; errstr says how
};

# Contact types of the contact table the core reads for this sender type.
my %OWNER_OF_CONTACT_TYPE = (0 => 'uid', 1 => 'aid');

# Why the last new() returned false (new has no object to carry it).
our $errstr = '';

my $TITLE_MAX = 256;
my $BODY_MAX  = 16000;
my $TAG_MAX   = 128;

sub new {
  my ($class, $conf, $attr) = @_;
  $conf = {} if ref $conf ne 'HASH';
  $attr = {} if ref $attr ne 'HASH';
  $errstr = '';
  my ($url, $token) = @{$conf}{qw(HERALD_URL HERALD_TOKEN)};
  if (!defined $url || $url eq '' || !defined $token || $token eq '') {
    $errstr = 'Herald is not configured: set $conf{HERALD_URL} and $conf{HERALD_TOKEN}';
    return 0;
  }
  my $herald = Herald::Client->new(
    url     => $url,
    token   => $token,
    timeout => $conf->{HERALD_TIMEOUT} || 5,
    exists $conf->{HERALD_VERIFY_SSL} ? (verify_SSL => $conf->{HERALD_VERIFY_SSL}) : (),
  );
  if (!$herald->is_ready) {
    $errstr = $herald->errstr;
    return 0;
  }
  my $self = bless {
    conf   => $conf,
    herald => $herald,
    errno  => 0,
    errstr => '',
  }, $class;
  $self->{db} = $attr->{db} if $attr->{db};
  return $self;
}

sub support_batch { return 1 }

# The Herald client this plugin sends with (for message status, owner tokens, reminders).
sub herald { return $_[0]{herald} }

sub send_message {
  my ($self, $attr) = @_;
  $self->{errno} = 0;
  $self->{errstr} = '';
  delete @{$self}{qw(message_id targets accepted)};
  # No exception reaches the caller, and a caller's die handler does not see ours.
  local $SIG{__DIE__};
  local $@;
  my $sent = eval { $self->_send(ref $attr eq 'HASH' ? $attr : {}) };
  if (!defined $sent) {
    my $why = $@ || 'unknown error';
    $why =~ s/\s+\z//;
    $why =~ s/\n.*//s;
    return $self->_error(E_INTERNAL, "Herald plugin failed: $why");
  }
  return $sent;
}

sub _send {
  my ($self, $attr) = @_;
  my $conf = $self->{conf} || {};

  return $self->_error(E_NO_RECIPIENT, 'give UID or AID, not both')
    if _given($attr->{UID}) && _given($attr->{AID});
  my $to = _audience($attr)
    or return $self->_error(E_NO_RECIPIENT, 'no recipient: give UID or AID');

  my $body  = _clean_text($attr->{MESSAGE}, $BODY_MAX);
  # A blank TITLE does not hide a SUBJECT.
  my ($title) = grep { $_ ne '' } map { _clean_line($_, $TITLE_MAX) } $attr->{TITLE}, $attr->{SUBJECT};
  $title //= '';
  $title = _clean_line($conf->{HERALD_DEFAULT_TITLE}, $TITLE_MAX) if $title eq '';
  if ($title eq '' && $body ne '') {
    ($title) = $body =~ /\A\s*([^\n]*)/;
    $title = _clean_line($title, $TITLE_MAX);
  }
  return $self->_error(E_NO_TEXT, 'nothing to send: TITLE, SUBJECT and MESSAGE are empty') if $title eq '';

  my %message = (to => $to, title => $title);
  $message{body} = $body if $body ne '';
  if (defined(my $url = _first_defined($attr->{URL}, $attr->{LINK}))) {
    $message{url} = _link($url) if $url ne '';
  }
  $message{icon} = _link($attr->{ICON}) if defined $attr->{ICON} && $attr->{ICON} ne '';
  if (defined $attr->{TAG} && $attr->{TAG} ne '') {
    $message{tag} = _clean_line($attr->{TAG}, $TAG_MAX);
  }
  my $ttl = _first_defined($attr->{TTL}, $conf->{HERALD_TTL});
  $message{ttl} = 0 + $ttl if defined $ttl && $ttl =~ /\A\d+\z/;
  my $urgency = $attr->{URGENCY} // _urgency_of_priority($attr->{PRIORITY_ID});
  $message{urgency} = $urgency if defined $urgency;
  $message{topic} = $attr->{TOPIC} if defined $attr->{TOPIC} && $attr->{TOPIC} ne '';
  my $tickle = $attr->{TICKLE} // (lc($attr->{MODE} // $conf->{HERALD_MODE} // '') eq 'tickle');
  $message{mode} = 'tickle' if $tickle;

  my $wait = $attr->{WAIT} // $conf->{HERALD_WAIT};
  my $herald = $self->{herald};
  my $answer = $herald->send_message(\%message, wait => $wait ? 1 : 0);
  if (!$answer && !$tickle && _too_big_for_a_push($herald)) {
    # A push carries about 4 KB; a longer text waits at Herald and the device fetches it.
    $message{mode} = 'tickle';
    $answer = $herald->send_message(\%message, wait => $wait ? 1 : 0);
  }
  return $self->_error(_errno_of_client($herald->errno), $herald->errstr) if !$answer;
  # An empty 2xx or a JSON without counts is not Herald's answer (a proxy's, perhaps).
  return $self->_error(E_BAD_ANSWER, "Herald's answer to the message has no device count (HTTP "
      . ($herald->status // '?') . ')')
    if ref $answer ne 'HASH' || ($answer->{targets} // '') !~ /\A\d+\z/
    || ($wait && ($answer->{accepted} // '') !~ /\A\d+\z/);

  $self->{message_id} = $answer->{id};
  $self->{targets} = $answer->{targets};
  my $who = join ' ', map { "$_ " . (ref $to->{$_} ? join(',', @{ $to->{$_} }) : $to->{$_}) } keys %$to;
  if ($self->{targets} < 1) {
    return $self->_error(E_NO_DEVICE, "$who has no device subscribed with Herald");
  }
  if ($wait) {
    $self->{accepted} = $answer->{accepted};
    if ($self->{accepted} < 1) {
      return $self->_error(E_NOT_ACCEPTED, sprintf(
        'no push service accepted the message for %s (devices %d: failed %d, gone %d, pending %d)',
        $who, $self->{targets}, $answer->{failed} // 0, $answer->{gone} // 0, $answer->{pending} // 0));
    }
  }
  return 1;
}

sub _error {
  my ($self, $errno, $errstr) = @_;
  $self->{errno}  = $errno;
  $self->{errstr} = $errstr;
  return 0;
}

# The one Herald audience of a call: UID or AID as given, else the owners named by the
# contacts the core passed (one hash or, in a batch, an array of them).
sub _audience {
  my ($attr) = @_;
  for my $pair ([UID => 'uid'], [AID => 'aid']) {
    my ($key, $kind) = @$pair;
    my $value = $attr->{$key};
    next if !defined $value || ref $value || $value eq '';
    my @ids = grep { $_ ne '' } map { s/\A\s+|\s+\z//gr } split /,/, $value;
    next if !@ids;
    return @ids == 1 ? { $kind => $ids[0] } : { "${kind}s" => \@ids };
  }
  my %ids;
  my $contacts = $attr->{CONTACT};
  for my $contact (ref $contacts eq 'ARRAY' ? @$contacts : ref $contacts eq 'HASH' ? ($contacts) : ()) {
    next if ref $contact ne 'HASH';
    my $kind = $OWNER_OF_CONTACT_TYPE{ $contact->{type} // '' } or next;
    my $id = $contact->{client_id};
    $ids{$kind}{$id} = 1 if defined $id && $id ne '';
  }
  # A marker contact's address names its owner, e.g. "herald:uid:42".
  for my $address (split /,/, $attr->{TO_ADDRESS} // '') {
    $ids{$1}{$2} = 1 if $address =~ /\A\s*herald:(uid|aid):(\S+?)\s*\z/;
  }
  for my $kind (qw(uid aid)) {
    my @ids = sort keys %{ $ids{$kind} || {} };
    next if !@ids;
    return @ids == 1 ? { $kind => $ids[0] } : { "${kind}s" => \@ids };
  }
  return;
}

# The client's errno as the plugin's: Herald's HTTP status and 599 stay; the client's own
# codes (a bad setting or argument, an unreadable answer) would read as the plugin's 2 and 3.
sub _errno_of_client {
  my ($errno) = @_;
  return $errno if $errno >= 100;
  return $errno == Herald::Client::E_ANSWER ? E_BAD_ANSWER : E_INTERNAL;
}

# Herald refused the message because its text does not fit into a push (and said to use
# tickle mode). Nothing was stored then, so sending it again in tickle mode sends it once.
sub _too_big_for_a_push {
  my ($herald) = @_;
  return ($herald->errno // 0) == 422 && ($herald->error_code // '') eq 'invalid_field'
    && $herald->errstr =~ /\bpush carries at most\b.*\btickle\b/;
}

sub _given { return defined $_[0] && !ref $_[0] && $_[0] =~ /\S/ }

# The first defined value, or undef (a scalar even in list context).
sub _first_defined {
  for (@_) { return $_ if defined $_ }
  return undef;    ## no critic (ProhibitExplicitReturnUndef)
}

sub _chars {
  my ($text) = @_;
  return defined $text ? Herald::Client::chars("$text") : '';
}

# Message text: newlines and tabs kept, other control characters dropped (Herald refuses
# them), cut to Herald's limit.
sub _clean_text {
  my ($text, $max) = @_;
  $text = _chars($text);
  $text =~ s/\r\n?/\n/g;
  $text =~ s/[\x00-\x08\x0b-\x1f\x7f-\x9f]//g;
  $text =~ s/\A\s+|\s+\z//g;
  $text = substr($text, 0, $max) if length $text > $max;
  return $text;
}

# One line (a title, a tag): every run of whitespace and control characters is one space.
sub _clean_line {
  my ($text, $max) = @_;
  $text = _chars($text);
  $text =~ s/[\s\x00-\x1f\x7f-\x9f]+/ /g;
  $text =~ s/\A | \z//g;
  $text = substr($text, 0, $max) if length $text > $max;
  return $text;
}

# Herald takes absolute http(s) links or paths on the portal's origin; a relative link of
# the billing system ("index.cgi?...") becomes a path.
sub _link {
  my ($link) = @_;
  $link = _chars($link);
  $link =~ s/\A\s+|\s+\z//g;
  return $link if $link =~ m{\Ahttps?://}i;
  $link =~ s{\A/+}{};
  return "/$link";
}

# The core's message priority (0 lowest .. 4 highest) as an RFC 8030 urgency.
sub _urgency_of_priority {
  my ($priority) = @_;
  return if !defined $priority || $priority !~ /\A\d+\z/;
  return $priority >= 3 ? 'high' : $priority == 0 ? 'low' : undef;
}

1;

__END__

=encoding utf8

=head1 NAME

Abills::Sender::Herald - the billing system's Sender plugin that sends through Herald

=head1 SYNOPSIS

  # config.pl
  $conf{HERALD_URL}   = 'https://herald.example.com';
  $conf{HERALD_TOKEN} = 'a Herald API key with the send scope';
  $conf{HERALD_TIMEOUT} = 5;       # optional, seconds

  # anywhere in the system, unchanged
  my $Sender = Abills::Sender::Core->new($db, $admin, \%conf, { SENDER_TYPE => 'Push' });
  $Sender->send_message({ UID => 2, TITLE => 'ABillS Push', MESSAGE => 'Hello' });

  # or alone, e.g. to check the set-up
  my $plugin = Abills::Sender::Herald->new(\%conf) or die $Abills::Sender::Herald::errstr;
  $plugin->send_message({ UID => 2, TITLE => 'Test', MESSAGE => 'Hello' })
    or die "$plugin->{errno}: $plugin->{errstr}";

=head1 DESCRIPTION

Installed as the C<Push> sender type (see C<docs/abills.md> in Herald's repository: the
file C<share/Push.pm> of this distribution makes C<Abills::Sender::Push> a subclass of this
module), every C<send_message> of the billing system with C<SENDER_TYPE =E<gt> 'Push'> (or 10)
becomes one Herald message to every device of that client or administrator.

=head1 METHODS

=head2 new($conf, $attr)

Returns the plugin, or 0 when Herald is not configured (C<HERALD_URL> or C<HERALD_TOKEN>
missing, an https URL without L<IO::Socket::SSL>); then
C<$Abills::Sender::Herald::errstr> says why. Settings read from C<$conf>:

=over 4

=item C<HERALD_URL>, C<HERALD_TOKEN>

Herald's base URL and API token. The plugin needs only the C<send> scope (an admin token
works too).

=item C<HERALD_TIMEOUT>

Seconds per request to Herald (default 5). When Herald is down, a send fails after at most
this long.

=item C<HERALD_WAIT>

1: wait until the push services have answered (see L</"What accepted means">). Set
C<HERALD_TIMEOUT> above Herald's C<HERALD_PUSH_TIMEOUT_SECONDS> then.

=item C<HERALD_MODE>

C<tickle>: every push carries no text; the browser fetches it from Herald with its own
secret. Default: the text travels encrypted in the push.

=item C<HERALD_TTL>, C<HERALD_DEFAULT_TITLE>, C<HERALD_VERIFY_SSL>

Default TTL in seconds (Herald's default is 86400); the title used when a call gives none
(else the first line of the message is used); 0 to skip TLS certificate checks (never in
production).

=back

=head2 send_message(\%attr)

Sends one Herald message and returns 1 when Herald accepted it for at least one device, else
0 with C<< $plugin->{errno} >> and C<< $plugin->{errstr} >> set. It never dies.

Recipient: C<UID> (a client) or C<AID> (an administrator), not both (errno 2); a
comma-separated list sends to each. Without them, the owners named by C<CONTACT> (C<type> 0 client, 1 administrator,
C<client_id>) or by marker addresses C<herald:uid:N> in C<TO_ADDRESS>. When the core passes
several contacts of one person (a batch), that is still one message: Herald reaches every
device of the person itself.

Text: C<TITLE>, else C<SUBJECT> when C<TITLE> is blank (one line, at most 256 characters), C<MESSAGE> (at most 16000;
carriage returns and control characters other than newline and tab are dropped). A text too
long for a push (about 3,900 bytes of JSON in all) is sent in tickle mode: the push carries
no text and the device fetches it from Herald. Character
strings and UTF-8 byte strings are both accepted. Optional: C<URL> (absolute, or a path on
the portal's origin), C<ICON>, C<TAG>, C<TTL> (seconds), C<URGENCY> (C<very-low>, C<low>,
C<normal>, C<high>; by default C<PRIORITY_ID> 3 or more is C<high>, 0 is C<low>), C<TOPIC>,
C<TICKLE> (true: no text in the push) and C<WAIT>.

After a call, C<< $plugin->{message_id} >> is Herald's message id (see
C<< $plugin->herald->message($id) >>), C<< $plugin->{targets} >> the number of devices.

=head3 What accepted means

Without C<wait>, Herald answers C<202 {id, targets}> once the message is stored durably and
fanned out to each of the person's devices; C<targets> is the number of devices. The plugin
returns 1 when C<targets> is at least 1: Herald then delivers and retries by itself. With
C<wait>, Herald answers once the push services' first answers have come; the plugin returns
1 when C<accepted> is at least 1, the original module's meaning ("the push service accepted
the request").

=head3 errno

  2    no recipient (no UID, AID or contact)
  3    no text (no TITLE, SUBJECT or MESSAGE)
  10   the person has no device subscribed with Herald
  11   (wait) no push service accepted it; errstr gives the counts
  12   Herald's answer could not be read (not JSON, no device count: a proxy between?)
  99   the plugin itself failed (errstr says how)
  599  Herald is unreachable (refused, timed out, TLS failed)
  4xx  Herald refused the request: 401 a wrong token, 422 a field it does not take, ...

=head2 support_batch

1: the core calls the plugin once for all of a person's contacts.

=head2 herald

The L<Herald::Client> the plugin sends with.

=cut
