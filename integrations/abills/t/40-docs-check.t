#!/usr/bin/perl
# The one-line check of docs/abills.md, run as written (only the paths changed): it sends
# to a uid with two devices through the plugin, and both devices get the push.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";

use File::Temp qw(tempdir);
use Test::More;

use HeraldTest qw(start_stack ADMIN_TOKEN);

my $doc = "$FindBin::Bin/../../../docs/abills.md";
open my $fh, '<', $doc or die "read $doc: $!";
my ($line) = grep { /^perl -I\/usr\/abills\/lib / } <$fh>;
ok($line, 'docs/abills.md has the one-line check') or BAIL_OUT('no one-liner in docs/abills.md');
chomp $line;

my $stack = start_stack();
my @devices = map { $stack->subscribe_device(uid => 2) } 1 .. 2;
my $dir = tempdir(CLEANUP => 1);
open my $config, '>', "$dir/config.pl" or die $!;
printf {$config} "\$conf{HERALD_URL} = '%s';\n\$conf{HERALD_TOKEN} = '%s';\n1;\n", $stack->url, ADMIN_TOKEN;
close $config;

my $lib = "$FindBin::Bin/../lib";
(my $command = $line) =~ s{-I/usr/abills/lib}{-I$lib};
$command =~ s{/usr/abills/libexec/config\.pl}{$dir/config.pl} or die 'the one-liner reads no config.pl';
my $output = `$command 2>&1`;
is($?, 0, 'it exits 0');
is($output, "accepted for 2 of 2 devices\n", "it prints: $output");
my $pushes = $stack->wait_pushes(\@devices, 2);
is(scalar @$pushes, 2, 'both devices got the push');
is($_->{json}{notification}{body}, 'Hello from Herald', 'and decrypted it') for @$pushes;

open $config, '>', "$dir/config.pl" or die $!;
printf {$config} "\$conf{HERALD_URL} = '%s';\n\$conf{HERALD_TOKEN} = 'a-wrong-token-for-the-check';\n1;\n", $stack->url;
close $config;
$output = `$command 2>&1`;
like($output, qr/\Afailed \(401\): .*check the Herald token/, "a wrong token: $output");

$stack->stop;
done_testing;
