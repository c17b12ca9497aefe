package SenderCoreStandIn;

# A minimal stand-in of the billing system's sender core, written from the documented
# contract (docs in Herald's shared mission notes, "the Sender plugin contract"), not from
# its code. It does what the bridge must satisfy:
#   - loads a plugin by requiring <base_dir>/lib/Abills/Sender/<Type>.pm and calling
#     Abills::Sender::<Type>->new($conf, $attr); a false answer means "not available";
#   - gives the plugin {conf} if it lacks one and sets {db} before each send;
#   - for the Push type looks up the receiver's newest push_contacts row (type 0 client,
#     1 admin) and never calls the plugin without one (error 2, "No contact");
#   - with several contacts and support_batch() calls once with TO_ADDRESS joined by commas
#     and CONTACT an array, otherwise once per contact;
#   - answers a boolean, with the plugin's errno/errstr on failure.
# Like the core, it does not wrap the plugin call in eval: a die would reach the caller.

use strict;
use warnings;

my %TYPE_NAME = (0 => 'Browser', 1 => 'Sms', 5 => 'Viber', 6 => 'Telegram', 9 => 'Mail',
                 10 => 'Push', 11 => 'Hyber', 12 => 'XMPP');

sub new {
  my ($class, $db, $admin, $conf, $attr) = @_;
  $attr ||= {};
  return bless {
    db       => $db,
    admin    => $admin,
    conf     => $conf,
    base_dir => $attr->{BASE_DIR} || '/usr/abills',
    type     => _type_name($attr->{SENDER_TYPE}),
    plugins  => {},
    calls    => [],
    errno    => 0,
    errstr   => '',
  }, $class;
}

sub _type_name {
  my ($type) = @_;
  return if !defined $type;
  return $TYPE_NAME{$type} // $type if $type =~ /\A\d+\z/;
  return $type;
}

# Every (plugin, attributes) call made, for the test to look at.
sub calls { return @{ $_[0]{calls} } }

sub plugin {
  my ($self, $type) = @_;
  return $self->{plugins}{$type} if exists $self->{plugins}{$type};
  my $file = "$self->{base_dir}/lib/Abills/Sender/$type.pm";
  my $class = "Abills::Sender::$type";
  my $plugin;
  if (-f $file && eval { require $file; 1 }) {
    $plugin = $class->new($self->{conf}, { db => $self->{db}, admin => $self->{admin} });
    $plugin->{conf} ||= $self->{conf} if $plugin;
  }
  else {
    $self->{load_error} = $@ || "no $file";
  }
  return $self->{plugins}{$type} = $plugin || undef;
}

sub send_message {
  my ($self, $attr) = @_;
  $self->{errno} = 0;
  $self->{errstr} = '';
  my $type = _type_name($attr->{SENDER_TYPE}) // $self->{type};
  my $plugin = $self->plugin($type) or return $self->_error(1, "Sender $type is not available");

  my @contacts;
  if (defined $attr->{TO_ADDRESS}) {
    @contacts = ({ value => $attr->{TO_ADDRESS} });
  }
  elsif ($type eq 'Push') {
    my ($kind, $id) = defined $attr->{UID} ? (0, $attr->{UID}) : defined $attr->{AID} ? (1, $attr->{AID}) : ();
    if (defined $kind) {
      my $row = $self->{db}->newest_contact($kind, $id);
      @contacts = ({ %$row, value => $row->{endpoint} }) if $row;
    }
  }
  return $self->_error(2, 'No contact') if !@contacts;

  $plugin->{db} = $self->{db};
  my @batches = @contacts > 1 && $plugin->support_batch
    ? ({ TO_ADDRESS => join(',', map { $_->{value} } @contacts), CONTACT => \@contacts })
    : map { { TO_ADDRESS => $_->{value}, CONTACT => $_ } } @contacts;
  my $sent = 0;
  for my $batch (@batches) {
    my %call = (%$attr, %$batch);
    push @{ $self->{calls} }, \%call;
    if ($plugin->send_message(\%call)) {
      $sent = 1;
    }
    else {
      $self->{errno} = $plugin->{errno};
      $self->{errstr} = $plugin->{errstr};
    }
  }
  return $sent;
}

sub _error {
  my ($self, $errno, $errstr) = @_;
  @{$self}{qw(errno errstr)} = ($errno, $errstr);
  return 0;
}

1;
