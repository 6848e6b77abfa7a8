#!/usr/bin/perl

# OCSP stapling for certificates served from the store: the built-in
# CA's certificates get a response the helper signs, a foreign one with
# an OCSP responder gets the responder's answer (openssl ocsp here),
# stapled when the client asks (openssl s_client -status), and nothing
# when it does not ask or there is no responder; a responder that fails
# is logged and tried again.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Certmate::Test qw(slurp);
use Certmate::OpensslCA;

my $t = Certmate::Test->new;
my $dir = $t->dir;

my $ocsp_url = 'http://127.0.0.1:' . $t->port('ocsp') . '/';
my $dead_url = 'http://127.0.0.1:' . $t->port('dead') . '/';

my $foreign = Certmate::OpensslCA->new($t, 'foreign');
my $good = $foreign->client('good', cn => 'good.example.com',
                            eku => 'serverAuth',
                            ext => ["authorityInfoAccess=OCSP;URI:$ocsp_url"]);
my $revoked = $foreign->client('revoked', cn => 'revoked.example.com',
                               eku => 'serverAuth',
                               ext => ["authorityInfoAccess=OCSP;URI:$ocsp_url"]);
my $dead = $foreign->client('dead', cn => 'dead.example.com',
                            eku => 'serverAuth',
                            ext => ["authorityInfoAccess=OCSP;URI:$dead_url"]);
my $plain = $foreign->client('plain', cn => 'plain.example.com',
                             eku => 'serverAuth');
$foreign->revoke($revoked);
$foreign->ocsp_start($t->port('ocsp'));

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_ca;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        certmate_certificate on;
    }
}
EOF

ok($t->wait_for(sub {
    my (undef, $j) = $t->admin('GET', '/v1/ca');
    $j && $j->{state} eq 'ready';
}, 10), 'the CA is ready');

my (undef, $ca) = $t->admin('GET', '/v1/ca');
my $chain = $t->write_file('ca-chain.pem', $ca->{chain});

my ($s, $own) = $t->admin('POST', '/v1/certificates/issue',
                          json => { names => ['own.example.com'] });
is($s, 201, 'a certificate of the built-in CA');

for my $c ($good, $revoked, $dead, $plain) {
    ($s) = $t->admin('POST', '/v1/certificates', json => {
        certificate => slurp($c->{crt}) . slurp($foreign->crt),
        private_key => scalar slurp($c->{key}) });
    is($s, 201, 'a foreign certificate imported');
}

sub status {
    my ($name, @args) = @_;

    my $out = Certmate::Test::run_cmd('openssl', 's_client', '-connect',
        '127.0.0.1:' . $t->port('https'), '-servername', $name, '-status',
        @args, { stdin => '' });

    return $out;
}

# --- our own ---------------------------------------------------------------

my $out;

ok($t->wait_for(sub {
    $out = status('own.example.com');
    $out =~ /OCSP Response Status: successful/;
}, 10), 'own: a response is stapled');
like($out, qr/Cert Status: good/, 'own: good');
like($out, qr/Responder Id: .*certmate/, 'own: by the built-in CA\'s signer');
my ($this, $next) = $out =~ /This Update: (.*)\n\s*Next Update: (.*)\n/;
ok($this && $next, "own: this update $this, next update $next");

# --- foreign ---------------------------------------------------------------

ok($t->wait_for(sub {
    $out = status('good.example.com');
    $out =~ /OCSP Response Status: successful/;
}, 10), 'foreign: the responder\'s answer is stapled');
like($out, qr/Cert Status: good/, 'foreign: good');
like($out, qr/Responder Id: CN = foreign/, 'foreign: by its responder');

ok($t->wait_for(sub {
    $out = status('revoked.example.com');
    $out =~ /OCSP Response Status: successful/;
}, 10), 'foreign, revoked by its CA: stapled as well');
like($out, qr/Cert Status: revoked/, 'foreign: its answer, revoked');

like(status('plain.example.com'), qr/OCSP response: no response sent/,
     'no responder: nothing stapled');

$out = Certmate::Test::run_cmd('openssl', 's_client', '-connect',
    '127.0.0.1:' . $t->port('https'), '-servername', 'good.example.com',
    { stdin => '' });
unlike($out, qr/OCSP response/, 'a client that does not ask gets nothing');

ok($t->wait_log(qr/\[error\].*certmate cannot get an OCSP response to staple from "\Q$dead_url\E": .*; again in 60 s/, 15),
   'a responder that does not answer: logged, tried again in a minute');
like(status('dead.example.com'), qr/OCSP response: no response sent/,
     'a responder that does not answer: nothing stapled');

like($t->read_log, qr/\[info\].*certmate got an OCSP response to staple from "\Q$ocsp_url\E"/,
     'the fetch is logged');

# TLS 1.2 staples too

like(status('own.example.com', '-tls1_2'), qr/Cert Status: good/,
     'TLS 1.2: stapled');

# a response is renewed at half of its validity: one of a minute, after
# half a minute

$foreign->ocsp_stop;
unlink "$dir/ca-foreign/ocsp.log";
$foreign->ocsp_start($t->port('ocsp'), 1);

my $fresh = $foreign->client('fresh', cn => 'fresh.example.com',
                             eku => 'serverAuth',
                             ext => ["authorityInfoAccess=OCSP;URI:$ocsp_url"]);
($s) = $t->admin('POST', '/v1/certificates', json => {
    certificate => slurp($fresh->{crt}) . slurp($foreign->crt),
    private_key => scalar slurp($fresh->{key}) });
is($s, 201, 'a certificate whose responder answers for a minute');

my $fetched = sub {
    scalar(() = $t->read_log =~ /certmate got an OCSP response to staple/g)
};
my $before = $fetched->();

ok($t->wait_for(sub { $fetched->() >= $before + 1 }, 10),
   'its response is fetched');
my ($first_next) = status('fresh.example.com') =~ /Next Update: (.*)\n/;
ok($t->wait_for(sub { $fetched->() >= $before + 2 }, 45),
   'and fetched again before it expires');
my ($second_next) = status('fresh.example.com') =~ /Next Update: (.*)\n/;
isnt($second_next, $first_next, 'the new response is stapled');

# a restart staples at once what the store keeps

$foreign->ocsp_stop;
$t->stop;
$t->run;

like(status('good.example.com'), qr/Cert Status: good/,
     'after a restart: stapled from the store, the responder down');

$t->stop;

done_testing();
