package FakeDbh;

# A stand-in for a DBI handle holding the billing system's push_contacts table in memory.
# It understands the statements Herald::Abills::Contacts issues (and nothing else: any
# other SQL fails the way DBI reports errors), and lets the sender-core stand-in read the
# newest row of a person as the real core does.

use strict;
use warnings;

sub new {
  my ($class) = @_;
  return bless { rows => [], next_id => 1, errstr => undef, log => [] }, $class;
}

sub errstr { return $_[0]{errstr} }

# Rows as the table holds them (hashes: id, type, client_id, endpoint, key, auth).
sub rows { return @{ $_[0]{rows} } }

# A row written by something else (an old subscription of the original module).
sub insert_row {
  my ($self, %row) = @_;
  push @{ $self->{rows} }, { id => $self->{next_id}++, key => '', auth => '', %row };
}

# What the core does for the Push type: the newest row of (type, client_id), or undef.
sub newest_contact {
  my ($self, $type, $client_id) = @_;
  my ($newest) = sort { $b->{id} <=> $a->{id} }
    grep { $_->{type} == $type && $_->{client_id} eq $client_id } @{ $self->{rows} };
  return $newest;
}

sub prepare {
  my ($self, $sql) = @_;
  push @{ $self->{log} }, $sql;
  my $squashed = $sql =~ s/\s+/ /gr;
  my %shapes = (
    select => qr/\ASELECT id FROM push_contacts WHERE type = \? AND client_id = \? AND endpoint = \?\z/,
    insert => qr/\AINSERT INTO push_contacts \(type, client_id, endpoint, `key`, auth\) VALUES \(\?, \?, \?, '', ''\)\z/,
    delete => qr/\ADELETE FROM push_contacts WHERE type = \? AND client_id = \? AND endpoint = \?\z/,
  );
  my ($kind) = grep { $squashed =~ $shapes{$_} } sort keys %shapes;
  if (!$kind) {
    $self->{errstr} = "syntax error or unknown statement: $squashed";
    return;
  }
  return bless { dbh => $self, kind => $kind, result => [] }, 'FakeDbh::Statement';
}

package FakeDbh::Statement;

sub errstr { return $_[0]{dbh}{errstr} }

sub execute {
  my ($self, @bind) = @_;
  my $dbh = $self->{dbh};
  if ($dbh->{fail}) {
    $dbh->{errstr} = 'server has gone away';
    return;
  }
  my ($type, $client_id, $endpoint) = @bind;
  my $match = sub { $_[0]{type} == $type && $_[0]{client_id} eq $client_id && $_[0]{endpoint} eq $endpoint };
  if ($self->{kind} eq 'select') {
    $self->{result} = [ map { [ $_->{id} ] } grep { $match->($_) } @{ $dbh->{rows} } ];
  }
  elsif ($self->{kind} eq 'insert') {
    $dbh->insert_row(type => $type, client_id => $client_id, endpoint => $endpoint);
  }
  else {
    $dbh->{rows} = [ grep { !$match->($_) } @{ $dbh->{rows} } ];
  }
  return 1;
}

sub fetchrow_arrayref { return shift @{ $_[0]{result} } }

1;
