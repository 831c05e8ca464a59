# pl_fetch: fetch https://127.0.0.1:PORT/ with HTTP::Tiny (IO::Socket::SSL
# over Net::SSLeay), as a Perl script would, without certificate
# verification. Prints the body length, or HTTP::Tiny's error, and exits 1
# on any error.
#
# usage: perl pl_fetch.pl --port=N
use strict;
use warnings;
use HTTP::Tiny;

my ($port) = map { /^--port=(\d+)$/ ? $1 : () } @ARGV;
die "usage: pl_fetch.pl --port=N\n" unless $port;
my $res = HTTP::Tiny->new(verify_SSL => 0, timeout => 10)->get("https://127.0.0.1:$port/");
if (!$res->{success}) {
    # Status 599 is HTTP::Tiny's own: the error text is the content.
    my $why = $res->{status} == 599 ? $res->{content} : "$res->{status} $res->{reason}\n";
    print STDERR "pl_fetch: $why";
    exit 1;
}
print "ok ", length($res->{content}), " bytes\n";
exit 0;
