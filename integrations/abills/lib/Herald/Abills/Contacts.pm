package Herald::Abills::Contacts;

# The marker contacts: one row per subscribed person in the table the billing system's
# sender core reads for the Push type (push_contacts), so that the core finds a contact and
# calls the plugin. The row carries no subscription: Herald holds the devices.

use strict;
use warnings;

use Scalar::Util qw(blessed);

our $VERSION = '0.1.0';

use constant {
  CLIENT => 0,    # push_contacts.type of a client (uid)
  ADMIN  => 1,    # push_contacts.type of an administrator (aid)
};

my %TYPE_OF = (uid => CLIENT, aid => ADMIN);

sub new {
  my ($class, $db, %opt) = @_;
  my $dbh = _dbh($db)
    or return;
  my $table = $opt{table} // 'push_contacts';
  return if $table !~ /\A[A-Za-z_][A-Za-z0-9_]*\z/;
  return bless { dbh => $dbh, table => $table, errstr => '' }, $class;
}

sub errstr { return $_[0]{errstr} }

# A DBI handle, or an object of the billing system that holds one in {db}.
sub _dbh {
  my ($db) = @_;
  return if !ref $db;
  return $db if blessed $db && $db->can('prepare');
  my $inner = eval { $db->{db} };
  return $inner if blessed $inner && $inner->can('prepare');
  return;
}

# The address of a person's marker row: "herald:uid:42".
sub marker_address {
  my ($class, $kind, $id) = @_;
  return "herald:$kind:$id";
}

sub has_marker {
  my ($self, $kind, $id) = @_;
  my $type = $TYPE_OF{$kind // ''};
  return $self->_fail("unknown owner kind (uid or aid)") if !defined $type;
  my $rows = $self->_select($type, $id, __PACKAGE__->marker_address($kind, $id)) or return;
  return @$rows ? 1 : 0;
}

# Adds the person's marker row unless it exists. 1 on success.
sub add_marker {
  my ($self, $kind, $id) = @_;
  my $type = $TYPE_OF{$kind // ''};
  return $self->_fail("unknown owner kind (uid or aid)") if !defined $type;
  return $self->_fail("no $kind given") if !defined $id || $id eq '';
  my $address = __PACKAGE__->marker_address($kind, $id);
  my $rows = $self->_select($type, $id, $address) or return;
  return 1 if @$rows;
  return $self->_run(
    "INSERT INTO $self->{table} (type, client_id, endpoint, `key`, auth) VALUES (?, ?, ?, '', '')",
    $type, $id, $address);
}

# Removes the person's marker rows. 1 on success.
sub remove_marker {
  my ($self, $kind, $id) = @_;
  my $type = $TYPE_OF{$kind // ''};
  return $self->_fail("unknown owner kind (uid or aid)") if !defined $type;
  return $self->_run("DELETE FROM $self->{table} WHERE type = ? AND client_id = ? AND endpoint = ?",
    $type, $id, __PACKAGE__->marker_address($kind, $id));
}

sub _select {
  my ($self, $type, $id, $address) = @_;
  my $rows = eval {
    my $sth = $self->{dbh}->prepare("SELECT id FROM $self->{table} WHERE type = ? AND client_id = ? AND endpoint = ?")
      or die $self->{dbh}->errstr . "\n";
    $sth->execute($type, $id, $address) or die $sth->errstr . "\n";
    my @ids;
    while (my $row = $sth->fetchrow_arrayref) { push @ids, $row->[0] }
    \@ids;
  };
  return $rows || $self->_fail("reading $self->{table} failed: " . _line($@));
}

sub _run {
  my ($self, $sql, @bind) = @_;
  my $done = eval {
    my $sth = $self->{dbh}->prepare($sql) or die $self->{dbh}->errstr . "\n";
    $sth->execute(@bind) or die $sth->errstr . "\n";
    1;
  };
  return $done || $self->_fail("writing $self->{table} failed: " . _line($@));
}

sub _fail {
  my ($self, $why) = @_;
  $self->{errstr} = $why;
  return;
}

sub _line {
  my ($text) = @_;
  $text = 'unknown error' if !defined $text || $text eq '';
  $text =~ s/\s+\z//;
  $text =~ s/\n.*//s;
  return $text;
}

1;

__END__

=head1 NAME

Herald::Abills::Contacts - marker rows in push_contacts, so the sender core calls Herald

=head1 SYNOPSIS

  my $contacts = Herald::Abills::Contacts->new($dbh)   # a DBI handle
    or die 'no database handle';
  $contacts->add_marker(uid => 42) or warn $contacts->errstr;
  $contacts->has_marker(aid => 7);
  $contacts->remove_marker(uid => 42);

=head1 DESCRIPTION

Before the billing system's sender core calls a C<Push> plugin, it looks the receiver up in
C<push_contacts> (C<type> 0 client, 1 administrator; C<client_id> the uid or aid) and calls
no plugin when it finds no row. Herald keeps the devices, so this module keeps one B<marker
row> per subscribed person there: C<endpoint> is C<herald:uid:42> (or C<herald:aid:7>),
C<key> and C<auth> are empty.

It uses only C<prepare>, C<execute> and C<fetchrow_arrayref> of the handle it is given, so
any DBI handle works, and so does an object of the billing system that holds one in
C<{db}>. The SQL quotes the column C<key> with backticks (MySQL/MariaDB, the billing
system's database).

=head1 METHODS

=head2 new($dbh, table => 'push_contacts')

Undef when C<$dbh> is not a database handle or the table name is not a plain name.

=head2 add_marker($kind, $id)

C<$kind> is C<uid> or C<aid>. Adds the marker row unless it is there. 1 on success; undef
with C<errstr> on a database error.

=head2 has_marker($kind, $id)

1 or 0; undef with C<errstr> on a database error.

=head2 remove_marker($kind, $id)

Deletes the person's marker row. 1 on success.

=head2 marker_address($kind, $id)

C<herald:$kind:$id>, the marker's C<endpoint> (the core passes it as C<TO_ADDRESS>).

=head2 errstr

Why the last call failed.

=cut
