package Herald::Abills::Subscribe;

# The subscribe handler of the client portal and the admin interface: it ties the logged-in
# person's browser to Herald (an owner token, or a server-side registration) and keeps that
# person's marker contact, so the sender core calls the Herald plugin for them.

use strict;
use warnings;

use Herald::Client;
use Herald::Abills::Contacts;
use JSON::PP ();

our $VERSION = '0.1.0';

my $JSON = JSON::PP->new->utf8->canonical;
my $MAX_BODY = 16 * 1024;

sub new {
  my ($class, %args) = @_;
  my $conf = $args{conf} || {};
  my $herald = $args{herald} || Herald::Client->new(
    url     => $conf->{HERALD_URL},
    token   => $conf->{HERALD_TOKEN},
    timeout => $conf->{HERALD_TIMEOUT} || 5,
    exists $conf->{HERALD_VERIFY_SSL} ? (verify_SSL => $conf->{HERALD_VERIFY_SSL}) : (),
  );
  my $contacts = $args{contacts};
  $contacts ||= Herald::Abills::Contacts->new($args{db}) if $args{db};
  my $public = $args{public_url} // $conf->{HERALD_PUBLIC_URL} // $conf->{HERALD_URL} // '';
  $public =~ s{/+\z}{};
  return bless {
    herald     => $herald,
    contacts   => $contacts,
    public_url => $public,
    errstr     => '',
  }, $class;
}

sub errstr { return $_[0]{errstr} }
sub herald { return $_[0]{herald} }

# ------------------------------------------------------------------ the three steps

# A short-lived owner token for this person's browser (herald.js: subscribe({api,
# ownerToken})). The marker is written with it: the person asked to be notified.
sub owner_token {
  my ($self, $kind, $id, %opt) = @_;
  return $self->_fail('owner_token needs uid or aid and an id') if !_person($kind, $id);
  my $token = $self->{herald}->owner_token($kind => $id, defined $opt{ttl} ? (ttl => $opt{ttl}) : ())
    or return $self->_fail($self->{herald}->errstr, $self->{herald});
  $self->_marker($kind, $id) or return;
  return { ownerToken => $token->{ownerToken}, expiresAt => $token->{expiresAt}, api => $self->{public_url} };
}

# Registers the browser's PushSubscription JSON for this person with the admin token
# (herald.js: subscribe({api, registerUrl})), with the device's languages and time zone that
# herald.js sends beside it. Returns {id, secret} for the browser.
sub register {
  my ($self, $kind, $id, $subscription, %device) = @_;
  return $self->_fail('register needs uid or aid and an id') if !_person($kind, $id);
  my %locale;
  # Only values of the right shape are passed on (Herald checks the tags and the zone); a
  # browser's odd value must not cost the person their subscription.
  $locale{languages} = $device{languages}
    if ref $device{languages} eq 'ARRAY' && !grep { !defined || ref } @{ $device{languages} };
  $locale{time_zone} = $device{time_zone} if defined $device{time_zone} && !ref $device{time_zone};
  my $registered = $self->{herald}->register_subscription(subscription => $subscription, $kind => $id, %locale)
    or return $self->_fail($self->{herald}->errstr, $self->{herald});
  $self->_marker($kind, $id) or return;
  return { id => $registered->{id}, secret => $registered->{secret} };
}

# Removes one device of this person (only one of theirs) and, when it was their last, the
# marker. Browsers usually unsubscribe themselves with their own secret (herald.js); this is
# for a server-side "forget this device" button. Needs the admin token.
sub unregister {
  my ($self, $kind, $id, $subscription_id) = @_;
  return $self->_fail('unregister needs uid or aid, an id and a subscription id')
    if !_person($kind, $id) || !defined $subscription_id || $subscription_id eq '';
  my $mine = $self->_devices($kind, $id) or return;
  if (!grep { $_->{id} eq $subscription_id } @$mine) {
    $self->_fail("subscription $subscription_id is not a device of $kind $id", undef, 404);
    $self->{error_code} = 'not_found';
    return;
  }
  $self->{herald}->unregister_subscription($subscription_id)
    or return $self->_fail($self->{herald}->errstr, $self->{herald});
  return $self->sync_marker($kind, $id);
}

# Makes the marker say the truth: present when the person has a device with Herald, absent
# otherwise (for example after devices went away). Needs the admin token.
sub sync_marker {
  my ($self, $kind, $id) = @_;
  my $devices = $self->_devices($kind, $id) or return;
  return 1 if !$self->{contacts};
  my $done = @$devices ? $self->{contacts}->add_marker($kind, $id) : $self->{contacts}->remove_marker($kind, $id);
  return $done ? 1 : $self->_fail($self->{contacts}->errstr);
}

# ------------------------------------------------------------------ CGI

# One request of the portal or admin interface, for the logged-in person:
#   handle(uid => $uid (or aid => $aid), action => 'token'|'register'|'unregister',
#          method => $ENV{REQUEST_METHOD}, content_type => $ENV{CONTENT_TYPE}, body => $raw)
# Returns (HTTP status, JSON text). Only JSON POSTs are taken: a page of another site cannot
# send one without the browser asking this origin first (CSRF).
sub handle {
  my ($self, %request) = @_;
  my ($kind) = grep { defined $request{$_} && $request{$_} ne '' } qw(uid aid);
  return _answer(401, error => 'unauthorized', 'log in first') if !$kind;
  my $id = $request{$kind};
  return _answer(405, error => 'method_not_allowed', 'use POST')
    if uc($request{method} // '') ne 'POST';
  return _answer(415, error => 'unsupported_media_type', 'send Content-Type: application/json')
    if ($request{content_type} // '') !~ m{\Aapplication/json\s*(?:;|\z)}i;
  my $raw = $request{body} // '';
  return _answer(413, error => 'body_too_large', 'the request is too large') if length $raw > $MAX_BODY;
  my $body = length $raw ? eval { $JSON->decode($raw) } : {};
  return _answer(400, error => 'invalid_request', 'the body is not a JSON object') if ref $body ne 'HASH';

  my $action = $request{action} // '';
  my $result;
  if ($action eq 'token') {
    $result = $self->owner_token($kind, $id) and return (200, $JSON->encode($result));
  }
  elsif ($action eq 'register') {
    return _answer(400, error => 'invalid_request', '"subscription" is missing') if ref $body->{subscription} ne 'HASH';
    # Segment tags are not taken from the browser: with the admin token behind this handler,
    # a person could put themselves into any segment.
    $result = $self->register($kind, $id, $body->{subscription},
      languages => $body->{languages}, time_zone => $body->{timeZone}) and return (201, $JSON->encode($result));
  }
  elsif ($action eq 'unregister') {
    return _answer(400, error => 'invalid_request', '"id" is missing') if !defined $body->{id} || ref $body->{id};
    $result = $self->unregister($kind, $id, $body->{id}) and return (200, $JSON->encode({ result => 'ok' }));
  }
  else {
    return _answer(404, error => 'not_found', 'unknown action');
  }
  # Herald's own refusals of what the browser sent (a bad subscription) go back as they are;
  # anything else is this server's problem and its details stay in the log (errstr).
  my $status = $self->{status} // 0;
  if ($status >= 400 && $status < 500 && $status != 401 && $status != 403) {
    return _answer($status, error => $self->{error_code} // 'invalid_request', $self->{errstr});
  }
  return _answer(502, error => 'unavailable', 'notifications are not available right now');
}

# The request body of a CGI request, read from STDIN (or $fh) as CONTENT_LENGTH (or $length)
# says, but never more than one byte over what handle() takes: a huge CONTENT_LENGTH then
# costs no memory (Perl's read() would allocate all of it first) and still gets its 413.
sub read_body {
  my ($class, $fh, $length) = @_;
  $fh //= \*STDIN;
  $length = $ENV{CONTENT_LENGTH} if @_ < 3;
  $length = 0 if !defined $length || $length !~ /\A\d+\z/;
  $length = $MAX_BODY + 1 if $length > $MAX_BODY + 1;
  my $body = '';
  while (length $body < $length) {
    my $read = read($fh, $body, $length - length $body, length $body);
    last if !$read;
  }
  return $body;
}

# ------------------------------------------------------------------ internals

sub _answer {
  my ($status, undef, $code, $message) = @_;
  return ($status, $JSON->encode({ error => { code => $code, message => $message } }));
}

sub _person {
  my ($kind, $id) = @_;
  return defined $kind && ($kind eq 'uid' || $kind eq 'aid') && defined $id && $id ne '';
}

sub _devices {
  my ($self, $kind, $id) = @_;
  my (@devices, $after);
  while (1) {
    my $page = $self->{herald}->subscriptions($kind => $id, limit => 1000, defined $after ? (after => $after) : ())
      or return $self->_fail($self->{herald}->errstr, $self->{herald});
    push @devices, @{ $page->{subscriptions} || [] };
    last if @{ $page->{subscriptions} || [] } < 1000;
    $after = $devices[-1]{id};
  }
  return \@devices;
}

sub _marker {
  my ($self, $kind, $id) = @_;
  return 1 if !$self->{contacts};
  return $self->{contacts}->add_marker($kind, $id) || $self->_fail($self->{contacts}->errstr);
}

sub _fail {
  my ($self, $why, $client, $status) = @_;
  $self->{errstr} = $why;
  $self->{status} = $client ? $client->status : $status;
  $self->{error_code} = $client ? $client->error_code : undef;
  return;
}

1;

__END__

=encoding utf8

=head1 NAME

Herald::Abills::Subscribe - the portal's and admin interface's subscribe handler for Herald

=head1 SYNOPSIS

  use Herald::Abills::Subscribe;
  my $subscribe = Herald::Abills::Subscribe->new(conf => \%conf, db => $dbh);

  # in the CGI script, once the person is logged in (uid for a client, aid for an admin)
  if (my $action = $FORM{herald}) {
    my $body = Herald::Abills::Subscribe->read_body;   # STDIN, at most what handle() takes
    my ($status, $json) = $subscribe->handle(
      uid => $user->{UID}, action => $action,
      method => $ENV{REQUEST_METHOD}, content_type => $ENV{CONTENT_TYPE}, body => $body);
    print "Status: $status\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n\r\n$json";
    exit;
  }

=head1 DESCRIPTION

The browser side (the snippets in C<share/templates/>) asks this handler for an owner token
and subscribes with Herald's C<herald.js>; or it lets C<herald.js> post the subscription
here (C<registerUrl>) and this handler registers it with Herald server-side. Either way the
person gets one marker row in C<push_contacts> (L<Herald::Abills::Contacts>), which is what
the sender core looks for before it calls the plugin.

Settings from C<%conf>: C<HERALD_URL>, C<HERALD_TOKEN>, C<HERALD_TIMEOUT>, and
C<HERALD_PUBLIC_URL> (Herald's URL as browsers reach it, when it differs from
C<HERALD_URL>). Minting owner tokens needs the C<send> scope; C<register>, C<unregister>
and C<sync_marker> need the admin token.

=head1 METHODS

=head2 new(conf => \%conf | herald => $client, db => $dbh | contacts => $contacts, public_url => URL)

Without C<db> or C<contacts> no marker is kept (for a set-up that satisfies the core some
other way).

=head2 owner_token($kind, $id, ttl => SECONDS)

C<$kind> is C<uid> or C<aid>. Writes the marker, then returns
C<< {ownerToken, expiresAt, api} >> (C<api>: Herald's public URL for C<herald.js>), or
undef with C<errstr>. The marker is written when the token is asked for: a person who then
closes the permission prompt has a marker but no device, and a send to them returns 0 with
errno 10 ("no device"), the same outcome as having no contact.

=head2 register($kind, $id, $subscription, languages => [...], time_zone => NAME)

Registers the browser's C<PushSubscription> (a hash or its JSON text) with Herald and writes
the marker. C<languages> and C<time_zone> are what C<herald.js> reports about the device
(C<languages>, C<timeZone> in its request); Herald picks each message's language and applies
quiet hours by them. A value of the wrong shape is left out rather than refused. Returns
C<< {id, secret} >> (what C<herald.js> stores), or undef.

=head2 unregister($kind, $id, $subscription_id)

Deletes that device if it belongs to the person (else fails with "not a device of"), then
C<sync_marker>.

=head2 sync_marker($kind, $id)

Adds or removes the marker according to whether Herald lists a device of the person.

=head2 read_body($fh, $length)

The CGI request body: C<$length> (default C<$ENV{CONTENT_LENGTH}>) bytes from C<$fh>
(default C<STDIN>), but at most one byte more than C<handle> takes, so an oversized request
costs no memory and C<handle> answers it with 413. (A plain C<read(STDIN, $body,
$ENV{CONTENT_LENGTH})> makes Perl allocate whatever length the request claims first.)

=head2 handle(uid => ID | aid => ID, action => ACTION, method => M, content_type => T, body => RAW)

The CGI entry point. C<action> C<token> answers C<200 {ownerToken, expiresAt, api}>;
C<register> takes C<{"subscription": ..., "languages": [...], "timeZone": "..."}> (what
C<herald.js> posts; C<tags> in it are ignored, since a person must not choose their own
segments) and answers C<201 {id, secret}>; C<unregister>
takes C<{"id": ...}> and answers C<200 {"result": "ok"}>. Only C<POST> with
C<Content-Type: application/json> is taken (405 / 415 otherwise), which a cross-site form
cannot send. Errors are C<{"error": {"code", "message"}}>: 401 without a logged-in person,
Herald's 4xx when it refused what the browser sent, 502 when Herald is unavailable (the
reason is in C<errstr>, for the log, not in the answer).

=cut
