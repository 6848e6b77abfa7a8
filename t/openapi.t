#!/usr/bin/perl

# doc/openapi.json describes the admin API as it is served: every route
# of the admin module is in it and every path of it is served; every
# status it lists for an operation is produced here by a request, and
# the body validates against the schema it names.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use B ();
use JSON::PP;
use Test::More;
use Certmate::Test qw(slurp);

my $top = $Certmate::Test::TOP;
my $spec = decode_json(slurp("$top/doc/openapi.json"));

is($spec->{openapi}, '3.1.0', 'OpenAPI 3.1');

# --- the routes of the admin module ------------------------------------------

my $source = slurp("$top/src/ngx_http_certmate_admin.c");
my %served;

while ($source =~ /\{ ngx_string\("(\/v1\/[^"]*)"\), (\d), (?:ngx_null_string|ngx_string\("([^"]*)"\)),\s*NGX_HTTP_(GET|POST|DELETE),/g) {
    my ($path, $arg, $suffix, $method) = ($1, $2, $3 // '', lc $4);
    $path .= ($path =~ /serials/ ? '{hex}' : '{id}') . $suffix if $arg;
    $served{"$method $path"} = 1;
}

ok(keys %served >= 14, 'the route table read: ' . scalar(keys %served));

my %described;

for my $path (keys %{$spec->{paths}}) {
    for my $method (grep { $_ ne 'parameters' } keys %{$spec->{paths}{$path}}) {
        $described{"$method $path"} = $spec->{paths}{$path}{$method};
    }
}

is_deeply([ sort keys %described ], [ sort keys %served ],
          'every served route is described, and every described one served');

# --- what produces each status ------------------------------------------------

my $t = Certmate::Test->new;
my $dir = $t->dir;

my $mock_port = $t->port('mock');
mkdir "$dir/mock";
my $mock = open my $mock_out, '-|', $^X, "$top/t/tools/mock-acme.pl",
    '--port', $mock_port, '--dir', "$dir/mock", '--http-port',
    $t->port('http'), '--no-ari'
    or die "mock-acme.pl: $!";
die 'mock-acme.pl did not start' unless (<$mock_out> // '') eq "ready\n";

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_ca;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;
    certmate_acme_issuer mock directory=http://127.0.0.1:$mock_port/directory
                         retry=1s;

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
            client_max_body_size 16k;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name acme.example.com;
        certmate_acme mock;
    }
}
EOF

ok($t->wait_for(sub {
    my (undef, $j) = $t->admin('GET', '/v1/ca');
    $j && $j->{state} eq 'ready';
}, 10), 'the CA is ready');
ok($t->wait_log(qr/certmate acme "acme\.example\.com" got certificate/, 15),
   'an ACME certificate');

my $root = $t->ca('root');
my $web = $t->cert('web', names => ['a.example.com'], issuer => $root);
my $pem = { certificate => $web->{pem},
            private_key => scalar slurp($web->{key}) };
my $web2 = $t->cert('web2', names => ['a2.example.com'], issuer => $root);
my $pem2 = { certificate => $web2->{pem},
             private_key => scalar slurp($web2->{key}) };

(undef, my $acme) = $t->admin('GET', '/v1/certificates?source=acme');
my $acme_id = $acme->{items}[0]{id};

Certmate::Test::openssl('req', '-new', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:P-256', '-nodes', '-keyout',
                        "$dir/c.key", '-subj', '/CN=c.example.com',
                        '-out', "$dir/c.csr");
my $csr = slurp("$dir/c.csr");

my $missing = '0' x 32;

sub issue { (undef, my $j) = $t->admin('POST', '/v1/certificates/issue',
                json => { names => [shift] }); return $j }

my %produce = (
    'get /v1/health 200' => sub { $t->admin('GET', '/v1/health') },
    'get /v1/health 401' => sub { $t->admin('GET', '/v1/health',
                                            token => 'wrong') },
    'get /v1/health 405' => sub { $t->admin('POST', '/v1/health') },
    'get /v1/health 503' => \&unavailable,

    'get /v1/certificates 200' => sub { $t->admin('GET', '/v1/certificates') },
    'get /v1/certificates 400' => sub { $t->admin('GET',
                                                  '/v1/certificates?limit=0') },
    'get /v1/certificates 401' => sub { $t->admin('GET', '/v1/certificates',
                                                  token => undef) },

    'post /v1/certificates 201' => sub { $t->admin('POST', '/v1/certificates',
                                                   json => $pem) },
    'post /v1/certificates 200' => sub {
        $t->admin('POST', '/v1/certificates', json => $pem2);
        $t->admin('POST', '/v1/certificates', json => $pem2) },
    'post /v1/certificates 400' => sub { $t->admin('POST', '/v1/certificates',
                                                   json => '{"x":') },
    'post /v1/certificates 401' => sub { $t->admin('POST', '/v1/certificates',
                                                   json => $pem,
                                                   token => 'wrong') },
    'post /v1/certificates 411' => sub { $t->admin('POST', '/v1/certificates',
                                 curl => ['-H', 'Content-Type: application/json',
                                          '-H', 'Transfer-Encoding: chunked',
                                          '--data-binary', '{}']) },
    'post /v1/certificates 413' => sub { $t->admin('POST', '/v1/certificates',
                                                   json => 'x' x 20000) },
    'post /v1/certificates 415' => sub { $t->admin('POST', '/v1/certificates',
                                                   json => $pem,
                                                   type => 'text/plain') },
    'post /v1/certificates 422' => sub { $t->admin('POST', '/v1/certificates',
                                 json => { certificate => 'x',
                                           private_key => 'y' }) },
    'post /v1/certificates 507' => \&full,

    'post /v1/certificates/issue 201' => sub { $t->admin('POST',
                                 '/v1/certificates/issue',
                                 json => { names => ['i.example.com'] }) },
    'post /v1/certificates/issue 400' => sub { $t->admin('POST',
                                 '/v1/certificates/issue', json => {}) },
    'post /v1/certificates/issue 401' => sub { $t->admin('POST',
                                 '/v1/certificates/issue', token => undef,
                                 json => { names => ['i.example.com'] }) },
    'post /v1/certificates/issue 422' => sub { $t->admin('POST',
                                 '/v1/certificates/issue',
                                 json => { names => ['i.example.com'],
                                           profile => 'nope' }) },
    'post /v1/certificates/issue 503' => \&not_ready,

    'get /v1/certificates/{id} 200' => sub {
        $t->admin('GET', '/v1/certificates/' . issue('g.example.com')->{id}) },
    'get /v1/certificates/{id} 401' => sub {
        $t->admin('GET', "/v1/certificates/$missing", token => undef) },
    'get /v1/certificates/{id} 404' => sub {
        $t->admin('GET', "/v1/certificates/$missing") },

    'delete /v1/certificates/{id} 204' => sub {
        $t->admin('DELETE', '/v1/certificates/'
                            . issue('d.example.com')->{id}) },
    'delete /v1/certificates/{id} 401' => sub {
        $t->admin('DELETE', "/v1/certificates/$missing", token => undef) },
    'delete /v1/certificates/{id} 404' => sub {
        $t->admin('DELETE', "/v1/certificates/$missing") },

    'post /v1/certificates/{id}/renew 201' => sub {
        $t->admin('POST', '/v1/certificates/' . issue('r.example.com')->{id}
                          . '/renew') },
    'post /v1/certificates/{id}/renew 202' => sub {
        $t->admin('POST', "/v1/certificates/$acme_id/renew") },
    'post /v1/certificates/{id}/renew 401' => sub {
        $t->admin('POST', "/v1/certificates/$missing/renew", token => undef) },
    'post /v1/certificates/{id}/renew 404' => sub {
        $t->admin('POST', "/v1/certificates/$missing/renew") },
    'post /v1/certificates/{id}/renew 409' => sub {
        my (undef, $i) = $t->admin('GET', '/v1/certificates?source=import');
        $t->admin('POST', "/v1/certificates/$i->{items}[0]{id}/renew") },

    'post /v1/certificates/{id}/revoke 200' => sub {
        $t->admin('POST', '/v1/certificates/' . issue('v.example.com')->{id}
                          . '/revoke') },
    'post /v1/certificates/{id}/revoke 400' => sub {
        $t->admin('POST', "/v1/certificates/$missing/revoke",
                  json => { reason => 'boredom' }) },
    'post /v1/certificates/{id}/revoke 401' => sub {
        $t->admin('POST', "/v1/certificates/$missing/revoke", token => undef) },
    'post /v1/certificates/{id}/revoke 404' => sub {
        $t->admin('POST', "/v1/certificates/$missing/revoke") },
    'post /v1/certificates/{id}/revoke 409' => sub {
        $t->admin('POST', "/v1/certificates/$acme_id/revoke") },

    'post /v1/serials/{hex}/revoke 200' => sub {
        $t->admin('POST', '/v1/serials/' . issue('s.example.com')->{serial}
                          . '/revoke') },
    'post /v1/serials/{hex}/revoke 400' => sub {
        $t->admin('POST', '/v1/serials/01/revoke',
                  json => { reason => 'boredom' }) },
    'post /v1/serials/{hex}/revoke 401' => sub {
        $t->admin('POST', '/v1/serials/01/revoke', token => undef) },
    'post /v1/serials/{hex}/revoke 404' => sub {
        $t->admin('POST', '/v1/serials/01/revoke') },
    'post /v1/serials/{hex}/revoke 409' => sub {
        my $s = issue('s2.example.com')->{serial};
        $t->admin('POST', "/v1/serials/$s/revoke");
        $t->admin('POST', "/v1/serials/$s/revoke") },

    'get /v1/ca 200' => sub { $t->admin('GET', '/v1/ca') },
    'get /v1/ca 401' => sub { $t->admin('GET', '/v1/ca', token => undef) },

    'post /v1/ca/sign 201' => sub { $t->admin('POST', '/v1/ca/sign',
                                    json => { csr => $csr,
                                              profile => 'client' }) },
    'post /v1/ca/sign 400' => sub { $t->admin('POST', '/v1/ca/sign',
                                    json => {}) },
    'post /v1/ca/sign 401' => sub { $t->admin('POST', '/v1/ca/sign',
                                    json => { csr => $csr }, token => undef) },
    'post /v1/ca/sign 422' => sub { $t->admin('POST', '/v1/ca/sign',
                                    json => { csr => 'not a CSR' }) },

    'get /v1/acme/orders 200' => sub { $t->admin('GET', '/v1/acme/orders') },
    'get /v1/acme/orders 401' => sub { $t->admin('GET', '/v1/acme/orders',
                                                 token => undef) },

    'post /v1/est/tokens 201' => sub { $t->admin('POST', '/v1/est/tokens',
                                       json => { names => ['e.example.com'] }) },
    'post /v1/est/tokens 400' => sub { $t->admin('POST', '/v1/est/tokens',
                                       json => {}) },
    'post /v1/est/tokens 401' => sub { $t->admin('POST', '/v1/est/tokens',
                                       json => { names => ['e.example.com'] },
                                       token => undef) },
    'post /v1/est/tokens 422' => sub { $t->admin('POST', '/v1/est/tokens',
                                       json => { names => ['e.example.com'],
                                                 profile => 'nope' }) },

    'get /v1/audit 200' => sub { $t->admin('GET', '/v1/audit') },
    'get /v1/audit 400' => sub { $t->admin('GET', '/v1/audit?cursor=x') },
    'get /v1/audit 401' => sub { $t->admin('GET', '/v1/audit',
                                           token => undef) },
    'get /v1/audit 405' => sub { $t->admin('DELETE', '/v1/audit') },
);

my %listed;

for my $op (sort keys %described) {
    my ($method, $path) = split / /, $op;
    for my $status (keys %{$described{$op}{responses}}) {
        $listed{"$op $status"} = $described{$op}{responses}{$status};
    }
}

is_deeply([ sort keys %listed ], [ sort keys %produce ],
          'a request for every status the description lists');

for my $case (sort keys %listed) {
    next unless $produce{$case};

    my ($status, $json, $headers, $body) = $produce{$case}->();
    my ($want) = $case =~ / (\d+)$/;

    is($status, $want, "$case: served") or diag($body);

    my $r = resolve($listed{$case});
    my $schema = $r->{content}{'application/json'}{schema};

    if (!$schema) {
        is($body // '', '', "$case: no body");
        next;
    }

    # a fresh decoding: numbers not yet used as strings
    my $fresh = eval { decode_json($body) };
    my @problems = validate($fresh, $schema, 'body');
    ok(!@problems && defined $fresh, "$case: the body is the schema's")
        or diag(join("\n", @problems) . "\n$body");
}

$t->stop;

kill 'TERM', $mock;
close $mock_out;

# --- the statuses of other configurations --------------------------------

# 503: a store written by a newer release is not opened

sub unavailable {
    my $u = Certmate::Test->new;
    $u->conf("http {\ncertmate_store %%DIR%%/store;\n"
             . "server { listen 127.0.0.1:%%PORT_admin%%;\n"
             . 'location /certmate/ { certmate_admin; certmate_admin_token '
             . "ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b; } }\n}\n");
    $u->run;
    $u->stop;
    system('cc', '-O2', '-o', $u->dir . '/store-tool',
           "$top/t/tools/store-tool.c", '-llmdb') == 0 or die;
    system($u->dir . '/store-tool', 'schema', $u->dir . '/store', 99) == 0
        or die;
    $u->expect_log(qr/has schema 99/);
    $u->run;
    my @r = $u->admin('GET', '/v1/health');
    $u->stop;
    return @r;
}

# 507: a store of 64k, filled

sub full {
    my $f = Certmate::Test->new;
    $f->conf("http {\ncertmate_store %%DIR%%/store max_size=64k;\n"
             . "server { listen 127.0.0.1:%%PORT_admin%%;\n"
             . 'location /certmate/ { certmate_admin; certmate_admin_token '
             . "ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b; } }\n}\n");
    $f->expect_log(qr/is full \(max_size=65536\), write refused/);
    $f->run;

    my @r;
    for my $n (0 .. 200) {
        @r = $f->import_cert($f->cert("f$n", names => ["f$n.example.com"]));
        last if $r[0] != 201;
    }

    $f->stop;
    return @r;
}

# 503: no helper, no CA

sub not_ready {
    my $n = Certmate::Test->new;
    $n->conf("master_process off;\nhttp {\ncertmate_store %%DIR%%/store;\n"
             . "certmate_ca;\nserver { listen 127.0.0.1:%%PORT_admin%%;\n"
             . 'location /certmate/ { certmate_admin; certmate_admin_token '
             . "ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b; } }\n}\n");
    $n->run;
    my @r = $n->admin('POST', '/v1/certificates/issue',
                      json => { names => ['n.example.com'] });
    $n->stop;
    return @r;
}

# --- a small validator: $ref, type, required, properties, items, enum ---

sub resolve {
    my ($node) = @_;

    while (ref $node eq 'HASH' && $node->{'$ref'}) {
        my $ref = $node->{'$ref'};
        $node = $spec;
        $node = $node->{$_} for grep { $_ ne '#' } split m{/}, $ref;
    }

    return $node;
}

sub validate {
    my ($v, $schema, $where) = @_;

    $schema = resolve($schema);
    my @p;

    # before anything uses it as a string: is it a JSON number?
    my $flags = B::svref_2object(\$v)->FLAGS;
    my $number = defined $v && !ref $v
                 && ($flags & (B::SVp_IOK() | B::SVp_NOK()))
                 && !($flags & B::SVp_POK());

    if (exists $schema->{const}) {
        return ("$where is not \"$schema->{const}\"")
            unless defined $v && !ref $v && $v eq $schema->{const};
    }

    if ($schema->{enum}) {
        return ("$where is not one of @{$schema->{enum}}")
            unless defined $v && grep { $v eq $_ } @{$schema->{enum}};
    }

    if (my $type = $schema->{type}) {
        my @types = ref $type ? @$type : ($type);
        my $is = !defined $v ? 'null'
               : ref $v eq 'HASH' ? 'object'
               : ref $v eq 'ARRAY' ? 'array'
               : JSON::PP::is_bool($v) ? 'boolean'
               : $number ? 'integer'
               : 'string';
        return ("$where is $is, not @types") unless grep { $_ eq $is } @types;
    }

    if (ref $v eq 'HASH') {
        for my $r (@{$schema->{required} || []}) {
            push @p, "$where.$r is missing" unless exists $v->{$r};
        }

        for my $k (keys %{$schema->{properties} || {}}) {
            push @p, validate($v->{$k}, $schema->{properties}{$k},
                              "$where.$k")
                if exists $v->{$k};
        }
    }

    if (ref $v eq 'ARRAY' && $schema->{items}) {
        push @p, validate($v->[$_], $schema->{items}, "$where\[$_\]")
            for 0 .. $#$v;
    }

    return @p;
}

done_testing();
