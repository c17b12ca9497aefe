package Herald::Client;

# A small client of Herald's HTTP API (JSON under /api/v1), using only core Perl modules.
# Failures never die: a method returns undef and leaves the reason in errno/errstr, the
# habit of the billing system this client was written for.

use strict;
use warnings;

use HTTP::Tiny;
use JSON::PP ();
use Scalar::Util qw(blessed);
use Time::HiRes ();
use Encode ();

our $VERSION = '0.1.0';

# errno for failures that never reached Herald, or whose answer was unreadable.
use constant {
  E_CONFIG    => 1,    # the client was built with a missing or bad setting
  E_ARGUMENT  => 2,    # a method was called with a missing or bad argument
  E_TRANSPORT => 599,  # no HTTP answer: refused, timed out, TLS failed (HTTP::Tiny's code)
  E_ANSWER    => 3,    # Herald answered something that is not the JSON it documents
};

sub new {
  my ($class, %args) = @_;
  my $self = bless {
    url     => $args{url},
    timeout => $args{timeout} // 10,
    errno   => 0,
    errstr  => '',
  }, $class;
  # The token lives in a closure, not in the hash, so a dumped object does not show it.
  my $token = $args{token};
  $self->{_token} = sub { $token };

  my $url = defined $self->{url} ? $self->{url} : '';
  $url =~ s{/+\z}{};
  if ($url !~ m{\Ahttps?://[^/\s]+}i || $url =~ /[\s\x00-\x1f\x7f]/) {
    $self->_fail(E_CONFIG, 'Herald URL must start with http:// or https://, e.g. https://herald.example.com');
    return $self;
  }
  if ($url =~ m{\A[a-z]+://[^/]*@}i) {
    $self->_fail(E_CONFIG, 'Herald URL must not contain user credentials; the token goes in HERALD_TOKEN');
    return $self;
  }
  $self->{url} = $url;
  if (!defined $token || $token eq '') {
    $self->_fail(E_CONFIG, 'Herald token is not set');
    return $self;
  }
  if ($token !~ /\A[\x21-\x7e]+\z/) {
    # It goes into a header; a library refusing it would quote it in its error.
    $self->_fail(E_CONFIG, 'Herald token must be printable ASCII without spaces (check for a stray newline)');
    return $self;
  }
  if ($self->{timeout} !~ /\A\d+(?:\.\d+)?\z/ || $self->{timeout} <= 0) {
    $self->_fail(E_CONFIG, 'Herald timeout must be a positive number of seconds');
    return $self;
  }
  if ($url =~ /\Ahttps:/i) {
    my ($ok, $why) = HTTP::Tiny->can_ssl;
    if (!$ok) {
      $why =~ s/\s+\z//;
      $self->_fail(E_CONFIG, "Herald URL is https but this Perl cannot speak TLS ($why); install IO::Socket::SSL");
      return $self;
    }
  }
  $self->{http} = HTTP::Tiny->new(
    agent      => "herald-perl/$VERSION",
    timeout    => $self->{timeout},
    verify_SSL => exists $args{verify_SSL} ? $args{verify_SSL} : 1,
    keep_alive => 1,
    # Herald's API never redirects; following one would carry the token to another host.
    max_redirect => 0,
  );
  $self->{ok} = 1;
  return $self;
}

sub is_ready { return $_[0]{ok} ? 1 : 0 }
sub errno    { return $_[0]{errno} }
sub errstr   { return $_[0]{errstr} }

# The code Herald gave with its last error ('unauthorized', 'invalid_field', ...), if any.
sub error_code { return $_[0]{error_code} }

# The HTTP status of the last answer (599 when none came).
sub status { return $_[0]{status} }

# ------------------------------------------------------------------ messages

sub send_message {
  my ($self, $message, %opt) = @_;
  return $self->_fail(E_ARGUMENT, 'send_message needs a hash of message fields')
    if ref $message ne 'HASH';
  return $self->_fail(E_ARGUMENT, 'send_message needs "to" and "title"')
    if ref $message->{to} ne 'HASH' || !defined $message->{title};
  my $path = '/api/v1/messages' . ($opt{wait} ? '?wait=true' : '');
  return $self->_call(POST => $path, _texts($message));
}

sub message {
  my ($self, $id) = @_;
  return $self->_call(GET => '/api/v1/messages/' . _id($id));
}

sub messages {
  my ($self, %query) = @_;
  return $self->_call(GET => '/api/v1/messages' . _query(\%query));
}

sub cancel_message {
  my ($self, $id) = @_;
  return $self->_call(DELETE => '/api/v1/messages/' . _id($id));
}

# ------------------------------------------------------------------ owners and devices

sub owner_token {
  my ($self, %owner) = @_;
  my $body = _owner(\%owner) or return $self->_fail(E_ARGUMENT, 'owner_token needs exactly one of uid or aid');
  $body->{ttl} = 0 + $owner{ttl} if defined $owner{ttl};
  return $self->_call(POST => '/api/v1/owner-tokens', $body);
}

sub register_subscription {
  my ($self, %args) = @_;
  my $subscription = $args{subscription};
  if (defined $subscription && !ref $subscription) {
    $subscription = eval { JSON::PP->new->decode($subscription) };
  }
  return $self->_fail(E_ARGUMENT, 'register_subscription needs the browser\'s PushSubscription JSON')
    if ref $subscription ne 'HASH';
  my $body = { subscription => $subscription };
  # What herald.js reports about the device: Herald picks each message's language and holds
  # pushes in quiet hours by them.
  $body->{languages} = $args{languages} if defined $args{languages};
  $body->{timeZone} = $args{time_zone} if defined $args{time_zone};
  if (defined $args{owner_token}) {
    # What a browser does: the owner token names the person, no admin token is sent.
    $body->{ownerToken} = $args{owner_token};
    return $self->_call(POST => '/api/v1/subscriptions', $body, { anonymous => 1 });
  }
  my $owner = _owner(\%args) or return $self->_fail(E_ARGUMENT, 'register_subscription needs exactly one of uid or aid');
  return $self->_call(POST => '/api/v1/subscriptions', { %$body, %$owner });
}

sub unregister_subscription {
  my ($self, $id) = @_;
  return $self->_call(DELETE => '/api/v1/subscriptions/' . _id($id));
}

sub subscriptions {
  my ($self, %args) = @_;
  my $owner = _owner(\%args) or return $self->_fail(E_ARGUMENT, 'subscriptions needs exactly one of uid or aid');
  my %query = (%$owner, map { defined $args{$_} ? ($_ => $args{$_}) : () } qw(limit after));
  return $self->_call(GET => '/api/v1/subscriptions' . _query(\%query));
}

# ------------------------------------------------------------------ reminders

sub create_reminder {
  my ($self, $reminder) = @_;
  return $self->_fail(E_ARGUMENT, 'create_reminder needs "to", "title" and "schedule"')
    if ref $reminder ne 'HASH' || ref $reminder->{to} ne 'HASH' || !defined $reminder->{title}
    || ref $reminder->{schedule} ne 'HASH';
  return $self->_call(POST => '/api/v1/reminders', _texts($reminder));
}

sub reminder {
  my ($self, $id) = @_;
  return $self->_call(GET => '/api/v1/reminders/' . _id($id));
}

sub reminders {
  my ($self, %query) = @_;
  return $self->_call(GET => '/api/v1/reminders' . _query(\%query));
}

sub update_reminder {
  my ($self, $id, $changes) = @_;
  return $self->_fail(E_ARGUMENT, 'update_reminder needs a hash of changes') if ref $changes ne 'HASH';
  return $self->_call(PATCH => '/api/v1/reminders/' . _id($id), _texts($changes));
}

sub delete_reminder {
  my ($self, $id) = @_;
  return $self->_call(DELETE => '/api/v1/reminders/' . _id($id));
}

# ------------------------------------------------------------------ public

sub vapid_public_key {
  my ($self) = @_;
  my $answer = $self->_call(GET => '/api/v1/vapid-public-key', undef, { anonymous => 1 }) or return;
  return $answer->{publicKey};
}

sub healthy {
  my ($self) = @_;
  my $answer = $self->_call(GET => '/healthz', undef, { anonymous => 1 }) or return 0;
  return (($answer->{status} // '') eq 'ok') ? 1 : 0;
}

# ------------------------------------------------------------------ internals

my $JSON = JSON::PP->new->utf8->canonical;

sub _call {
  my ($self, $method, $path, $body, $opt) = @_;
  $opt ||= {};
  return $self->_fail($self->{errno} || E_CONFIG, $self->{errstr} || 'Herald client is not configured')
    if !$self->{ok};
  $self->{errno} = 0;
  $self->{errstr} = '';
  $self->{error_code} = undef;

  my %headers = (Accept => 'application/json');
  $headers{Authorization} = 'Bearer ' . $self->{_token}->() if !$opt->{anonymous};
  my %request = (headers => \%headers);
  if (defined $body) {
    $headers{'Content-Type'} = 'application/json';
    my $encoded = eval { $JSON->encode($body) };
    return $self->_fail(E_ARGUMENT, 'the request cannot be encoded as JSON: ' . _first_line($@))
      if !defined $encoded;
    $request{content} = $encoded;
  }

  my $response = eval { $self->_request_in_time($method, $self->{url} . $path, \%request) };
  if (!$response) {
    return $self->_fail(E_TRANSPORT, "Herald request failed: " . _first_line($@), 599);
  }
  $self->{status} = $response->{status};
  my $what = "$method " . ($path =~ s/\?.*//r);

  if ($response->{status} == 599) {
    # HTTP::Tiny's own failure (refused, timeout, TLS): its text says which.
    my $why = _first_line($response->{content} // 'no answer');
    return $self->_fail(E_TRANSPORT, "Herald is unreachable at $self->{url} ($what): $why", 599);
  }
  my $content = $response->{content} // '';
  if (!$response->{success}) {
    my $error = eval { $JSON->decode($content)->{error} };
    if (ref $error eq 'HASH' && defined $error->{code}) {
      $self->{error_code} = $error->{code};
      my $hint = $response->{status} == 401 ? ' (check the Herald token)' : '';
      return $self->_fail($response->{status},
        "Herald refused $what: $response->{status} $error->{code}: " . ($error->{message} // '') . $hint,
        $response->{status});
    }
    return $self->_fail($response->{status},
      "Herald refused $what: HTTP $response->{status} $response->{reason}", $response->{status});
  }
  return 1 if $response->{status} == 204 || $content eq '';
  my $decoded = eval { $JSON->decode($content) };
  return $self->_fail(E_ANSWER, "Herald's answer to $what is not JSON (HTTP $response->{status})")
    if ref $decoded ne 'HASH';
  return $decoded;
}

# HTTP::Tiny's timeout bounds each connect, read and write, not the whole request: a server
# (or proxy) trickling its answer would hold the caller far longer. An alarm bounds the
# whole request, unless the caller has an alarm of its own pending (that one is left alone).
sub _request_in_time {
  my ($self, @request) = @_;
  # HTTP::Tiny dies inside its own eval for every network failure; a caller's die handler
  # (a CGI error page) must not take those for its own.
  local $SIG{__DIE__};
  my $pending = Time::HiRes::alarm(0);
  if ($pending) {
    Time::HiRes::alarm($pending);
    return $self->{http}->request(@request);
  }
  my $response = eval {
    # HTTP::Tiny turns this die into a 599 answer with the text as its content.
    local $SIG{ALRM} = sub { die "timed out after $self->{timeout} s\n" };
    Time::HiRes::alarm($self->{timeout});
    my $answer = $self->{http}->request(@request);
    Time::HiRes::alarm(0);
    $answer;
  };
  my $error = $@;
  Time::HiRes::alarm(0);
  # The alarm came between HTTP::Tiny's return and ours (HTTP::Tiny never reuses a
  # connection whose answer was cut).
  die $error || "timed out after $self->{timeout} s\n" if !$response;
  return $response;
}

sub _fail {
  my ($self, $errno, $errstr, $status) = @_;
  $self->{errno} = $errno;
  $self->{status} = $status if defined $status;
  # Never echo the token, even if a server or a library repeated it.
  my $token = $self->{_token} ? $self->{_token}->() : undef;
  $errstr =~ s/\Q$token\E/[token]/g if defined $token && length $token >= 4;
  # One line, whatever a server put in its message: errstr goes into logs.
  $errstr =~ s/[\x00-\x1f\x7f]+/ /g;
  $self->{errstr} = $errstr;
  return;
}

sub _first_line {
  my ($text) = @_;
  $text = '' if !defined $text;
  $text =~ s/\s+\z//;
  $text =~ s/\n.*//s;
  $text =~ s/ at \S+ line \d+\.?\z//;
  return $text;
}

# One owner from uid => / aid =>, as Herald wants it; undef unless exactly one is given.
sub _owner {
  my ($args) = @_;
  my @given = grep { defined $args->{$_} && $args->{$_} ne '' } qw(uid aid);
  return if @given != 1;
  return { $given[0] => "$args->{$given[0]}" };
}

sub _id {
  my ($id) = @_;
  $id = '' if !defined $id;
  $id =~ s/([^A-Za-z0-9_\-])/sprintf('%%%02X', ord $1)/ge;
  return $id;
}

sub _query {
  my ($query) = @_;
  my @pairs = map { _escape($_) . '=' . _escape($query->{$_}) } grep { defined $query->{$_} } sort keys %$query;
  return @pairs ? '?' . join('&', @pairs) : '';
}

sub _escape {
  my ($text) = @_;
  $text = "$text";
  utf8::encode($text) if utf8::is_utf8($text);
  $text =~ s/([^A-Za-z0-9_\-.~])/sprintf('%%%02X', ord $1)/ge;
  return $text;
}

# Text as characters, whatever the caller passed: a byte string that is valid UTF-8 (what a
# database driver returns without a UTF-8 flag) is decoded; other bytes are taken as Latin-1.
sub chars {
  my ($text) = @_;
  # Numbers stay numbers (JSON::PP would quote a stringified one).
  return $text if !defined $text || ref $text;
  if (utf8::is_utf8($text)) {
    # Perl strings may hold what no UTF-8 text can (a lone surrogate from a lax decoder, a
    # code point above U+10FFFF); Herald would refuse the whole request as invalid JSON.
    return $text if $text !~ /[\x{D800}-\x{DFFF}\x{110000}-\x{7FFFFFFF}]/;
    (my $clean = $text) =~ s/[\x{D800}-\x{DFFF}\x{110000}-\x{7FFFFFFF}]/\x{FFFD}/g;
    return $clean;
  }
  return $text if $text !~ /[\x80-\xff]/;
  my $decoded = "$text";
  return $decoded if utf8::decode($decoded);
  # UTF-8 with a broken sequence (a text cut inside a character): read as UTF-8, the broken
  # bytes as U+FFFD; as Latin-1 the whole Cyrillic text would turn into mojibake.
  return Encode::decode('UTF-8', "$text") if $text =~ /[\xc2-\xf4][\x80-\xbf]/;
  return $text;
}

sub _texts {
  my ($hash) = @_;
  return { map { $_ => chars($hash->{$_}) } keys %$hash };
}

1;

__END__

=encoding utf8

=head1 NAME

Herald::Client - a small client of Herald's HTTP API, core Perl modules only

=head1 SYNOPSIS

  use Herald::Client;

  my $herald = Herald::Client->new(
    url     => 'https://herald.example.com',
    token   => $api_key,          # Herald's admin token or a "send"-scoped key
    timeout => 5,
  );
  die $herald->errstr if !$herald->is_ready;

  my $sent = $herald->send_message({ to => { uid => 42 }, title => 'Balance is low',
                                     body => 'Top up before the 1st', url => '/pay' })
    or warn 'Herald: ' . $herald->errstr;
  print "queued for $sent->{targets} devices\n" if $sent;

=head1 DESCRIPTION

Each method maps to one request of Herald's API (see Herald's OpenAPI document at
C</api/v1/openapi.json> for every field). Requests and answers are JSON; text may be given
as Perl character strings or as UTF-8 bytes.

B<Errors never die.> A method that fails returns C<undef> (an empty list in list context)
and sets:

=over 4

=item C<< $client->errno >>

Herald's HTTP status when Herald answered with an error (401, 404, 422, ...); 599 when no
answer came (connection refused, timeout, TLS failure); 1 for a bad client setting, 2 for a
bad method argument, 3 for an answer that is not JSON.

=item C<< $client->errstr >>

One line saying what failed, with Herald's error code and message when there is one. It
never contains the token.

=item C<< $client->error_code >>

Herald's error code (C<unauthorized>, C<invalid_field>, C<not_found>, ...), or undef.

=item C<< $client->status >>

The HTTP status of the last answer, 599 when none came.

=back

A method whose request answers C<204 No Content> returns 1.

=head1 CONSTRUCTOR

=head2 new(url => URL, token => TOKEN, timeout => SECONDS, verify_SSL => BOOL)

C<url> is Herald's base URL (C<https://herald.example.com>, no path needed, no credentials);
C<token> is the bearer token (kept out of the object's visible fields and out of every error
text); C<timeout> defaults to 10 seconds and bounds each request; C<verify_SSL> defaults to 1.
An C<https> URL needs L<IO::Socket::SSL> (Debian: C<libio-socket-ssl-perl>).

C<new> always returns an object; when a setting is wrong, C<is_ready> is false, C<errstr>
says why, and every method fails with that reason.

=head2 is_ready

1 when the client was built with valid settings.

=head1 MESSAGES

=head2 send_message(\%message, wait => BOOL)

C<POST /api/v1/messages>. C<%message> has C<to> (C<< {uid => X} >>, C<< {aid => X} >>,
C<< {uids => [...]} >>, C<< {aids => [...]} >> or C<< {all => 'clients'|'admins'|'everyone'} >>),
C<title>, and optionally C<body>, C<url>, C<icon>, C<tag>, C<ttl>, C<urgency>, C<topic>,
C<mode> (C<payload> or C<tickle>) and C<sendAt>. Returns Herald's answer:
C<< {id, targets} >> (the number of devices it was fanned out to), C<< {id, targets => 0,
status => 'scheduled', sendAt} >> for a later C<sendAt>, or with C<< wait => 1 >> (when the
push services' first answers have come, at most 60 seconds)
C<< {id, targets, accepted, failed, gone, pending} >>. Give C<wait> a C<timeout> above
Herald's push timeout.

=head2 message($id)

C<GET /api/v1/messages/{id}>: the message with its counters C<targets>, C<pending>,
C<accepted>, C<failed>, C<gone>, C<displayed>, C<clicked> and its C<status>.

=head2 messages(limit => N, ...)

C<GET /api/v1/messages>: C<< {messages => [...]} >>, newest first; the named arguments become
the query string.

=head2 cancel_message($id)

C<DELETE /api/v1/messages/{id}>: cancels a scheduled message. Returns 1.

=head1 OWNERS AND DEVICES

=head2 owner_token(uid => X | aid => X, ttl => SECONDS)

C<POST /api/v1/owner-tokens>: C<< {ownerToken, expiresAt} >>, a short-lived token (600
seconds unless C<ttl> says otherwise, at most 86400) that lets the logged-in person's browser
register itself with Herald (C<herald.js>'s C<subscribe({api, ownerToken})>).

=head2 register_subscription(subscription => JSON_OR_HASH, uid => X | aid => X, languages => [...], time_zone => NAME)

C<POST /api/v1/subscriptions> with the admin token: registers the browser's
C<PushSubscription.toJSON()> (a JSON string or a decoded hash) for that person, server-side.
Returns C<< {id, secret} >>; hand both to the browser (C<herald.js>'s C<registerUrl> flow
expects exactly that answer). With C<< owner_token => TOKEN >> instead of C<uid>/C<aid>,
registers the way a browser does, without the admin token. C<languages> (the browser's
language tags, most preferred first) and C<time_zone> (an IANA name such as C<Europe/Kyiv>)
are sent as Herald's C<languages> and C<timeZone>: each device then gets a message's text in
its best language, and quiet hours in its local time.

=head2 unregister_subscription($id)

C<DELETE /api/v1/subscriptions/{id}>: removes that one device. Returns 1.

=head2 subscriptions(uid => X | aid => X, limit => N, after => ID)

C<GET /api/v1/subscriptions>: C<< {subscriptions => [{id, endpoint, createdAt,
lastSuccessAt, uid|aid}, ...], total} >>. Needs the admin token.

=head1 REMINDERS

=head2 create_reminder(\%reminder)

C<POST /api/v1/reminders>: the message fields of C<send_message> (without C<sendAt>) plus
C<schedule> (C<< {at => '2026-12-01T09:00:00'} >>, C<< {daily => '09:00'} >>,
C<< {weekly => {days => ['mon'], time => '08:15'}} >> or C<< {cron => '0 2 * * *'} >>),
C<timezone> (C<Europe/Kyiv>; default UTC) and C<paused>. Returns the reminder with its C<id>
and C<nextFireAt>.

=head2 reminder($id)

C<GET /api/v1/reminders/{id}>.

=head2 reminders(limit => N, after => ID)

C<GET /api/v1/reminders>: C<< {reminders => [...]} >>, ordered by id (at most 1000 a page).

=head2 update_reminder($id, \%changes)

C<PATCH /api/v1/reminders/{id}>: each given member replaces the stored one (C<undef> removes
an optional template field). Returns the reminder.

=head2 delete_reminder($id)

C<DELETE /api/v1/reminders/{id}>. Returns 1.

=head1 PUBLIC

=head2 vapid_public_key

The VAPID public key (base64url) browsers subscribe with.

=head2 healthy

1 when C</healthz> answers C<ok>, else 0 (with C<errstr> set).

=head1 FUNCTIONS

=head2 Herald::Client::chars($text)

C<$text> as a character string: a byte string that is valid UTF-8 (what a database driver
returns without a UTF-8 flag) is decoded (when a sequence in it is broken, that one becomes
U+FFFD), other bytes are read as Latin-1, character strings
are returned as they are, except that a character no UTF-8 text can hold (a lone surrogate,
a code point above U+10FFFF) becomes U+FFFD. Every text a method sends goes through it, so both kinds work.

=head1 SEE ALSO

L<Abills::Sender::Herald>, Herald's C<docs/abills.md>.

=cut
