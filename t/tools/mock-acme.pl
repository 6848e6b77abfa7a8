#!/usr/bin/perl

# mock-acme.pl: a small ACME server (RFC 8555) for the tests, with what
# pebble lacks: renewalInfo (RFC 9773, ARI), 429 and 503 answers with
# Retry-After, orders kept "processing" with Retry-After.  It speaks
# plain HTTP/1.1 on 127.0.0.1 and logs every request.  It does not check
# JWS signatures, but it does check nonces, URLs and key authorizations.
#
# usage: mock-acme.pl --port PORT --dir WORKDIR --http-port PORT [options]
#
#   --port PORT           where it listens, on 127.0.0.1
#   --dir DIR             an existing directory for the CA, certificates, logs
#   --http-port PORT      where HTTP-01 challenges are fetched (nginx)
#   --validity S          lifetime of certificates in seconds (90 days)
#   --retry-after S       Retry-After of 429, 503 and "processing" answers (1)
#   --new-order-429 N     the next N newOrder requests get 429 rateLimited
#   --new-order-503 N     then the next N get 503 serverInternal
#   --processing N        a finalized order stays "processing" for N polls
#   --bad-nonce-first N   the next N otherwise good POSTs get badNonce
#   --reuse-authz         new orders reuse valid authorizations of the account
#   --no-ari              no renewalInfo in the directory
#   --ari-start-in S      renewalInfo suggests a window from now + S (0)
#   --ari-end-in S        to now + S; without either option, the window is
#                         from 2/3 of the lifetime to 1/10 before its end
#   --ari-retry-after S   Retry-After of renewalInfo answers (3600)
#
# A window from --ari-start-in moves with every request: with a shorter
# --ari-retry-after, a client that reads it again before it starts never
# gets there.  A challenge is answered "processing" and fetched once the
# answer is sent (with Host: NAME, at 127.0.0.1:HTTP-PORT); polling the
# authorization shows the result.
#
# It prints "ready" once listening, and runs until killed.  Counters (N)
# go down as they are used.  Besides ACME:
#
#   GET /mock/roots               the root certificate (PEM)
#   GET /mock/log                 DIR/requests.jsonl
#   GET /mock/set?OPTION=VALUE&.. changes options (without "--"; an empty
#                                 value unsets) for the requests after it
#
# DIR/requests.jsonl gets a line for every request but /mock/ ones once
# it is answered: {"time": when it came (epoch, fractional), "method",
# "path", "status", "retry_after": seconds or null, "protected": the JWS
# header or null, "payload": the JWS payload, "" for POST-as-GET, or null}.
#
# Problems: rejected replaces get 409 alreadyReplaced (RFC 9773 section
# 5) when another order not invalid replaces the certificate, and 400
# malformed when it is not a certificate of the account or shares no name.

use strict;
use warnings;

use Digest::SHA qw(sha256);
use Getopt::Long;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX qw(strftime);
use Time::HiRes qw(time);

my %opt = ('retry-after' => 1, 'ari-retry-after' => 3600,
           validity => 90 * 86400);

GetOptions(\%opt, 'port=i', 'dir=s', 'http-port=i', 'validity=i',
           'retry-after=i', 'new-order-429=i', 'new-order-503=i',
           'processing=i', 'bad-nonce-first=i', 'reuse-authz', 'no-ari',
           'ari-start-in=i', 'ari-end-in=i', 'ari-retry-after=i')
    && $opt{port} && $opt{dir} && $opt{'http-port'} && -d $opt{dir}
    or die "usage: $0 --port PORT --dir DIR --http-port PORT [options]\n";

my $dir = $opt{dir};
my $base = "http://127.0.0.1:$opt{port}";
my $json = JSON::PP->new->utf8->canonical;

my (%nonces, %accounts, %by_thumbprint, %orders, %authzs, %challs, %certs,
    %by_cert_id, %valid_authz, @after);
my $next_id = 1;

$SIG{PIPE} = 'IGNORE';

make_ca();

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $opt{port}, Listen => 16,
                                   ReuseAddr => 1, Proto => 'tcp')
    or die "listen on port $opt{port}: $!\n";

$| = 1;
print "ready\n";

# one process for all connections: libcurl may keep several open

my $select = IO::Select->new($listen);
my %input;

while (1) {
    for my $fh ($select->can_read) {
        if ($fh == $listen) {
            my $conn = $listen->accept or next;
            $select->add($conn);
            $input{$conn} = '';
            next;
        }

        my $n = sysread $fh, $input{$fh}, 65536, length $input{$fh};
        my $open = 1;

        while ($open and my $req = read_request(\$input{$fh})) {
            $open = serve($fh, $req);
            $_->() for splice @after;
        }

        next if $open && $n;

        $select->remove($fh);
        delete $input{$fh};
        close $fh;
    }
}

# a request from the buffer once it is all there; {bad => 1} if it is
# not HTTP this server understands

sub read_request {
    my ($buf) = @_;

    my $end = index $$buf, "\r\n\r\n";
    return if $end < 0;

    my ($line, @lines) = split /\r\n/, substr($$buf, 0, $end);
    my ($method, $target, $version) = $line =~ m{^(\S+) (\S+) HTTP/(1\.[01])$}
        or return { bad => 1 };

    my %headers;
    for (@lines) {
        my ($name, $value) = /^([^:\s]+):\s*(.*?)\s*$/ or return { bad => 1 };
        $headers{lc $name} = $value;
    }

    return { bad => 1 } if $headers{'transfer-encoding'};

    my $length = $headers{'content-length'} // 0;
    return { bad => 1 } unless $length =~ /^\d+$/;
    return if length($$buf) < $end + 4 + $length;

    my $body = substr $$buf, $end + 4, $length;
    substr($$buf, 0, $end + 4 + $length) = '';

    my ($path, $query) = split /\?/, $target, 2;
    my $conn = lc($headers{connection} // '');

    return { method => $method, target => $target, path => $path,
             query => $query // '', headers => \%headers, body => $body,
             time => time,
             keep => $version eq '1.1' ? $conn ne 'close'
                                       : $conn eq 'keep-alive' };
}

# answers a request; returns whether the connection stays open

sub serve {
    my ($fh, $req) = @_;

    my ($status, $headers, $body) = $req->{bad}
        ? problem(400, 'malformed', 'bad HTTP request')
        : handle($req);
    $headers //= {};
    $body //= '';

    my $keep = $req->{keep};
    my %reason = (200 => 'OK', 201 => 'Created', 204 => 'No Content',
                  400 => 'Bad Request', 403 => 'Forbidden',
                  404 => 'Not Found', 405 => 'Method Not Allowed',
                  409 => 'Conflict', 415 => 'Unsupported Media Type',
                  429 => 'Too Many Requests', 500 => 'Internal Server Error',
                  501 => 'Not Implemented', 503 => 'Service Unavailable');

    my $head = "HTTP/1.1 $status " . ($reason{$status} // 'Status') . "\r\n"
               . ($status == 204 ? '' : 'Content-Length: ' . length($body)
                                        . "\r\n")
               . 'Replay-Nonce: ' . new_nonce() . "\r\n"
               . "Cache-Control: no-store\r\n"
               . "Link: <$base/directory>;rel=\"index\"\r\n";
    $head .= "Connection: close\r\n" unless $keep;

    for my $name (sort keys %$headers) {
        $head .= "$name: $headers->{$name}\r\n";
    }

    my $out = "$head\r\n" . (($req->{method} // '') eq 'HEAD' ? '' : $body);

    while (length $out) {
        my $n = syswrite $fh, $out;
        return 0 unless $n;
        substr($out, 0, $n) = '';
    }

    log_request($req, $status, $headers->{'Retry-After'})
        unless $req->{bad} || $req->{path} =~ m{^/mock/};

    return $keep;
}

sub log_request {
    my ($req, $status, $retry_after) = @_;

    my $line = $json->encode({
        time => $req->{time}, method => $req->{method},
        path => $req->{path}, status => $status,
        retry_after => defined $retry_after ? $retry_after + 0 : undef,
        protected => $req->{protected}, payload => $req->{payload} });

    open my $log, '>>', "$dir/requests.jsonl" or die "requests.jsonl: $!\n";
    print $log "$line\n";
    close $log;
}

sub handle {
    my ($req) = @_;

    my ($method, $path) = @$req{qw(method path)};
    my $get = $method eq 'GET' || $method eq 'HEAD';

    if ($path eq '/directory' && $get) {
        my %dir = (newNonce => "$base/new-nonce",
                   newAccount => "$base/new-account",
                   newOrder => "$base/new-order",
                   revokeCert => "$base/revoke-cert",
                   keyChange => "$base/key-change",
                   meta => { termsOfService => "$base/terms" });
        $dir{renewalInfo} = "$base/renewal-info" unless $opt{'no-ari'};
        return reply(200, \%dir);
    }

    if ($path eq '/new-nonce' && $get) {
        return ($method eq 'HEAD' ? 200 : 204, {}, '');
    }

    if ($path =~ m{^/renewal-info/([^/]+)$} && $get && !$opt{'no-ari'}) {
        return renewal_info($1);
    }

    if ($path eq '/mock/roots' && $get) {
        return (200, { 'Content-Type' => 'application/x-pem-file' },
                slurp("$dir/root.crt"));
    }

    if ($path eq '/mock/log' && $get) {
        my $log = -f "$dir/requests.jsonl" ? slurp("$dir/requests.jsonl") : '';
        return (200, { 'Content-Type' => 'application/x-ndjson' }, $log);
    }

    if ($path eq '/mock/set' && $get) {
        for (split /&/, $req->{query}) {
            my ($name, $value) = split /=/, $_, 2;
            return problem(400, 'malformed', "unknown option $name")
                unless $name =~ /^(validity|retry-after|new-order-\d+
                    |processing|bad-nonce-first|reuse-authz|no-ari
                    |ari-start-in|ari-end-in|ari-retry-after)$/x;
            $opt{$name} = length($value // '') ? $value : undef;
        }
        return reply(200, \%opt);
    }

    return post($req) if $method eq 'POST';

    return problem(404, 'malformed', "no resource $method $path");
}

# JWS and nonce checks, then the ACME resources

sub post {
    my ($req) = @_;

    return problem(415, 'malformed', 'Content-Type is not application/jose+json')
        unless ($req->{headers}{'content-type'} // '')
               =~ m{^application/jose\+json\s*(;|$)}i;

    my $jws = eval { $json->decode($req->{body}) };
    return problem(400, 'malformed', 'the body is not a flattened JWS')
        unless ref $jws eq 'HASH'
               && 3 == grep({ defined b64u_decode($jws->{$_}) }
                            qw(protected payload signature))
               && length $jws->{signature};

    my $header = eval { $json->decode(b64u_decode($jws->{protected})) };
    return problem(400, 'malformed', 'the protected header is not JSON')
        unless ref $header eq 'HASH';
    $req->{protected} = $header;

    my $payload = b64u_decode($jws->{payload});
    if (length $payload) {
        $payload = eval { $json->decode($payload) };
        return problem(400, 'malformed', 'the payload is not JSON')
            unless defined $payload;
    }
    $req->{payload} = $payload;

    return problem(400, 'badSignatureAlgorithm', 'alg is not ES256, ES384, RS256 or EdDSA')
        unless ($header->{alg} // '') =~ /^(ES256|ES384|RS256|EdDSA)$/;

    my $nonce = $header->{nonce};
    return problem(400, 'badNonce', 'unknown or used nonce')
        unless defined $nonce && !ref $nonce && delete $nonces{$nonce};

    return problem(400, 'malformed', "url is not $base$req->{target}")
        unless ($header->{url} // '') eq "$base$req->{target}";

    if ($opt{'bad-nonce-first'}) {
        $opt{'bad-nonce-first'}--;
        return problem(400, 'badNonce', 'nonce rejected (--bad-nonce-first)');
    }

    return problem(400, 'malformed', 'either jwk or kid, not both')
        if defined $header->{jwk} == defined $header->{kid};

    my $path = $req->{path};

    if ($path eq '/new-account') {
        return problem(400, 'malformed', 'newAccount needs jwk')
            unless $header->{jwk};
        return new_account($header->{jwk}, $payload);
    }

    return problem(400, 'malformed', "$path needs kid") unless $header->{kid};

    my ($aid) = $header->{kid} =~ m{^\Q$base\E/account/(\d+)$};
    my $account = $aid && $accounts{$aid}
        or return problem(400, 'accountDoesNotExist', 'no account at kid');
    return problem(403, 'unauthorized', 'the account is deactivated')
        unless $account->{status} eq 'valid';

    my ($kind, $id) = $path =~ m{^/([a-z-]+)/(\d+)$};
    my $owner = sub {
        my ($what) = @_;
        return $what && $what->{account} == $aid;
    };
    my @not_get = $payload eq '' ? ()
        : problem(400, 'malformed', 'a POST-as-GET has an empty payload');

    if ($path eq '/new-order') {
        return new_order($account, $payload);
    }

    if ($path eq "/account/$aid") {
        if (ref $payload eq 'HASH') {
            $account->{contact} = $payload->{contact} if $payload->{contact};
            $account->{status} = 'deactivated'
                if ($payload->{status} // '') eq 'deactivated';
        }
        return reply(200, account_json($account));
    }

    if ($path eq "/account/$aid/orders") {
        return @not_get ? @not_get : reply(200, { orders => [
            map { "$base/order/$_" } @{$account->{orders}} ] });
    }

    if (($kind // '') eq 'order' && $owner->($orders{$id})) {
        return @not_get ? @not_get : poll_order($orders{$id});
    }

    if (($kind // '') eq 'authz' && $owner->($authzs{$id})) {
        return @not_get ? @not_get : reply(200, authz_json($authzs{$id}));
    }

    if (($kind // '') eq 'chall' && $owner->($challs{$id})) {
        return challenge($account, $challs{$id}, $payload);
    }

    if (($kind // '') eq 'finalize' && $owner->($orders{$id})) {
        return finalize($orders{$id}, $payload);
    }

    if (($kind // '') eq 'cert' && $owner->($certs{$id})
        && $orders{$certs{$id}{order}}{status} eq 'valid')
    {
        return @not_get ? @not_get : (200,
            { 'Content-Type' => 'application/pem-certificate-chain' },
            $certs{$id}{chain});
    }

    if ($path eq '/revoke-cert' || $path eq '/key-change') {
        return problem(501, 'serverInternal', "the mock has no $path");
    }

    return problem(404, 'malformed', "no resource $path for this account");
}

sub new_account {
    my ($jwk, $payload) = @_;

    return problem(400, 'malformed', 'the payload is not an object')
        unless ref $payload eq 'HASH';

    my $thumbprint = thumbprint($jwk)
        or return problem(400, 'badPublicKey', 'jwk is not an EC or RSA key');

    if (my $account = $by_thumbprint{$thumbprint}) {
        return reply(200, account_json($account),
                     Location => "$base/account/$account->{id}");
    }

    return problem(400, 'accountDoesNotExist', 'no account for this key')
        if $payload->{onlyReturnExisting};

    return problem(403, 'userActionRequired', 'agree to the terms of service')
        unless $payload->{termsOfServiceAgreed};

    my $account = { id => $next_id++, jwk => $jwk, status => 'valid',
                    thumbprint => $thumbprint, orders => [],
                    contact => $payload->{contact} // [] };

    $accounts{$account->{id}} = $account;
    $by_thumbprint{$thumbprint} = $account;

    return reply(201, account_json($account),
                 Location => "$base/account/$account->{id}");
}

sub account_json {
    my ($account) = @_;
    return { status => $account->{status}, contact => $account->{contact},
             orders => "$base/account/$account->{id}/orders" };
}

sub new_order {
    my ($account, $payload) = @_;

    for my $code (429, 503) {
        next unless $opt{"new-order-$code"};
        $opt{"new-order-$code"}--;
        return problem($code, $code == 429 ? 'rateLimited' : 'serverInternal',
                       "try again later (--new-order-$code)",
                       'Retry-After' => $opt{'retry-after'});
    }

    my $identifiers = ref $payload eq 'HASH' && $payload->{identifiers};
    return problem(400, 'malformed', 'no identifiers')
        unless ref $identifiers eq 'ARRAY' && @$identifiers;

    my %names;
    for (@$identifiers) {
        return problem(400, 'unsupportedIdentifier', 'only dns identifiers')
            unless ref eq 'HASH' && ($_->{type} // '') eq 'dns';
        return problem(400, 'rejectedIdentifier', 'not a host name')
            unless ($_->{value} // '') =~ /^[a-z0-9-]+(\.[a-z0-9-]+)*$/i;
        $names{lc $_->{value}} = 1;
    }

    my $order = { id => $next_id++, account => $account->{id},
                  status => 'pending', expires => time + 7 * 86400,
                  identifiers => [ map { { type => 'dns', value => $_ } }
                                   sort keys %names ] };

    if (defined(my $replaces = $payload->{replaces})) {
        my $cert = !ref $replaces && $by_cert_id{$replaces};
        return problem(400, 'malformed', "replaces: $replaces is unknown")
            unless $cert && $cert->{account} == $account->{id};
        return problem(400, 'malformed', 'replaces: no name in common')
            unless grep { $names{$_} } @{$cert->{names}};
        my $other = $cert->{replaced_by} && $orders{$cert->{replaced_by}};
        return problem(409, 'alreadyReplaced',
                       "order $other->{id} replaces $replaces already")
            if $other && order_status($other) ne 'invalid';
        $cert->{replaced_by} = $order->{id};
        $order->{replaces} = $replaces;
    }

    for my $name (sort keys %names) {
        my $old = $valid_authz{$account->{id}}{$name};
        if ($opt{'reuse-authz'} && $old && $old->{expires} > time) {
            push @{$order->{authzs}}, $old->{id};
            next;
        }

        my $authz = { id => $next_id++, account => $account->{id},
                      status => 'pending', expires => time + 30 * 86400,
                      identifier => { type => 'dns', value => $name } };
        my $chall = { id => $next_id++, account => $account->{id},
                      authz => $authz->{id}, type => 'http-01',
                      status => 'pending', token => b64u_encode(random(32)) };

        $authz->{challs} = [ $chall->{id} ];
        $authzs{$authz->{id}} = $authz;
        $challs{$chall->{id}} = $chall;
        push @{$order->{authzs}}, $authz->{id};
    }

    $orders{$order->{id}} = $order;
    push @{$account->{orders}}, $order->{id};

    return reply(201, order_json($order),
                 Location => "$base/order/$order->{id}");
}

# pending -> ready -> processing -> valid, or invalid with an authorization

sub order_status {
    my ($order) = @_;

    if ($order->{status} eq 'pending' || $order->{status} eq 'ready') {
        my @status = map { $authzs{$_}{status} } @{$order->{authzs}};
        if (grep { $_ eq 'invalid' } @status) {
            $order->{status} = 'invalid';
            $order->{error} = { type => 'urn:ietf:params:acme:error:'
                                        . 'unauthorized', status => 403,
                                detail => 'an authorization failed' };
        } elsif (!grep { $_ ne 'valid' } @status) {
            $order->{status} = 'ready';
        }
    }

    return $order->{status};
}

sub order_json {
    my ($order) = @_;

    my %json = (status => order_status($order),
                expires => rfc3339($order->{expires}),
                identifiers => $order->{identifiers},
                authorizations => [ map { "$base/authz/$_" }
                                    @{$order->{authzs}} ],
                finalize => "$base/finalize/$order->{id}");

    $json{certificate} = "$base/cert/$order->{cert}"
        if $order->{status} eq 'valid';
    $json{replaces} = $order->{replaces} if defined $order->{replaces};
    $json{error} = $order->{error} if $order->{error};

    return \%json;
}

sub poll_order {
    my ($order) = @_;

    if ($order->{status} eq 'processing') {
        if ($order->{polls}-- > 0) {
            return reply(200, order_json($order),
                         'Retry-After' => $opt{'retry-after'});
        }
        $order->{status} = 'valid';
    }

    return reply(200, order_json($order));
}

sub authz_json {
    my ($authz) = @_;
    return { status => $authz->{status}, expires => rfc3339($authz->{expires}),
             identifier => $authz->{identifier},
             challenges => [ map { chall_json($challs{$_}) }
                             @{$authz->{challs}} ] };
}

sub chall_json {
    my ($chall) = @_;

    my %json = (type => $chall->{type}, url => "$base/chall/$chall->{id}",
                token => $chall->{token}, status => $chall->{status});
    $json{validated} = rfc3339($chall->{validated}) if $chall->{validated};
    $json{error} = $chall->{error} if $chall->{error};

    return \%json;
}

# {} starts the validation, which runs once the answer is sent;
# an empty payload only reads the challenge

sub challenge {
    my ($account, $chall, $payload) = @_;

    my @up = (Link => "<$base/authz/$chall->{authz}>;rel=\"up\"");

    return reply(200, chall_json($chall), @up) if $payload eq '';

    return problem(400, 'malformed', 'the payload is not an object')
        unless ref $payload eq 'HASH';

    if ($chall->{status} eq 'pending') {
        $chall->{status} = 'processing';
        push @after, sub { validate($account, $chall) };
    }

    return reply(200, chall_json($chall), @up);
}

sub validate {
    my ($account, $chall) = @_;

    my $authz = $authzs{$chall->{authz}};
    my $name = $authz->{identifier}{value};
    my $want = "$chall->{token}.$account->{thumbprint}";
    my $url = "http://$name:$opt{'http-port'}"
              . "/.well-known/acme-challenge/$chall->{token}";

    my ($status, $body) = fetch($name, $opt{'http-port'},
                                "/.well-known/acme-challenge/$chall->{token}");

    my $error;
    if (!defined $status) {
        $error = { type => 'connection', detail => "$url: $body" };
    } elsif ($status != 200) {
        $error = { type => 'unauthorized', detail => "$url: status $status" };
    } elsif ($body =~ s/\s+\z//r ne $want) {
        $error = { type => 'incorrectResponse',
                   detail => "$url: \"" . substr($body, 0, 200)
                             . "\", not \"$want\"" };
    }

    if ($error) {
        $error->{type} = "urn:ietf:params:acme:error:$error->{type}";
        $error->{status} = 403;
        $chall->{error} = $error;
        $chall->{status} = $authz->{status} = 'invalid';
        warn "mock-acme: $error->{detail}\n";
        return;
    }

    $chall->{validated} = time;
    $chall->{status} = $authz->{status} = 'valid';
    $valid_authz{$account->{id}}{$name} = $authz;
}

# a GET to 127.0.0.1:PORT with Host: NAME; (status, body) or (undef, error)

sub fetch {
    my ($name, $port, $path) = @_;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Timeout => 5)
        or return (undef, "connect: $!");

    print $sock "GET $path HTTP/1.0\r\nHost: $name\r\n"
                . "User-Agent: mock-acme\r\nConnection: close\r\n\r\n";

    my $response = '';
    my $wait = IO::Select->new($sock);
    while ($wait->can_read(5)) {
        last unless sysread $sock, $response, 65536, length $response;
    }
    close $sock;

    my ($status) = $response =~ m{^HTTP/1\.[01] (\d{3})}
        or return (undef, 'no HTTP response');
    my (undef, $body) = split /\r\n\r\n/, $response, 2;

    return ($status, $body // '');
}

sub finalize {
    my ($order, $payload) = @_;

    return problem(403, 'orderNotReady',
                   'the order is ' . order_status($order) . ', not ready')
        unless order_status($order) eq 'ready';

    my $der = ref $payload eq 'HASH' && b64u_decode($payload->{csr});
    return problem(400, 'malformed', 'no csr') unless $der;

    my $n = $order->{id};
    spew("$dir/order-$n.csr.der", $der);

    my $text = defined openssl('req', '-inform', 'DER', '-verify',
                               '-in', "$dir/order-$n.csr.der",
                               '-out', "$dir/order-$n.csr")
        ? openssl('req', '-in', "$dir/order-$n.csr", '-noout', '-text')
        : undef;
    return problem(400, 'badCSR', 'the CSR does not parse or verify')
        unless defined $text;

    my ($san) = $text =~ /X509v3 Subject Alternative Name:.*\n\s*(.*)/;
    my @csr = sort map { /^DNS:(.*)$/ ? lc $1 : $_ } split /, /, $san // '';
    my @names = map { $_->{value} } @{$order->{identifiers}};

    return problem(400, 'badCSR', "the CSR names @csr, the order @names")
        unless "@csr" eq "@names";

    my $cert = issue($order, \@names)
        or return problem(500, 'serverInternal', 'openssl failed');

    $order->{cert} = $cert->{id};
    $order->{polls} = $opt{processing} // 0;

    if ($order->{polls} > 0) {
        $order->{status} = 'processing';
        return reply(200, order_json($order),
                     'Retry-After' => $opt{'retry-after'});
    }

    $order->{status} = 'valid';
    return reply(200, order_json($order));
}

sub issue {
    my ($order, $names) = @_;

    my $id = $next_id++;
    my $now = int time;

    spew("$dir/serial", unpack('H*', random(16)) . "\n");
    spew("$dir/cert-$id.ext",
         'subjectAltName = ' . join(',', map { "DNS:$_" } @$names) . "\n"
         . "authorityKeyIdentifier = keyid\n"
         . "subjectKeyIdentifier = hash\n"
         . "basicConstraints = CA:FALSE\n"
         . "extendedKeyUsage = serverAuth\n");

    my $subject = length $names->[0] <= 64 ? "/CN=$names->[0]" : '/O=mock';

    # "openssl x509 -req" takes days, "openssl ca" any notAfter

    defined openssl('ca', '-batch', '-config', "$dir/ca.cnf", '-notext',
                    '-in', "$dir/order-$order->{id}.csr",
                    '-out', "$dir/cert-$id.pem", '-subj', $subject,
                    '-extfile', "$dir/cert-$id.ext",
                    '-startdate', asn1_time($now),
                    '-enddate', asn1_time($now + $opt{validity}))
        or return;

    my $info = openssl('x509', '-in', "$dir/cert-$id.pem", '-noout',
                       '-serial', '-ext', 'authorityKeyIdentifier')
        // return;

    my ($serial) = $info =~ /serial=([0-9A-F]+)/i;
    my ($aki) = $info =~ /Key Identifier:.*\n\s*(?:keyid:)?([0-9A-F:]+)/i
        or return;
    $aki =~ s/://g;

    # the DER INTEGER's content: no leading zeroes, but one if the top bit is set

    $serial = pack 'H*', (length($serial) % 2 ? '0' : '') . $serial;
    $serial =~ s/^\0+//;
    $serial = "\0$serial" if ord $serial >= 0x80;

    my $cert = { id => $id, account => $order->{account},
                 order => $order->{id}, names => $names,
                 not_before => $now, not_after => $now + $opt{validity},
                 cert_id => b64u_encode(pack 'H*', $aki) . '.'
                            . b64u_encode($serial) };

    my $pem = slurp("$dir/cert-$id.pem");
    $cert->{chain} = $pem . slurp("$dir/intermediate.crt");

    $certs{$id} = $cert;
    $by_cert_id{$cert->{cert_id}} = $cert;

    return $cert;
}

sub renewal_info {
    my ($cert_id) = @_;

    my $cert = $by_cert_id{$cert_id}
        or return problem(404, 'malformed', "no certificate $cert_id");

    my ($start, $end);

    if (defined $opt{'ari-start-in'} || defined $opt{'ari-end-in'}) {
        $start = time + ($opt{'ari-start-in'} // 0);
        $end = time + ($opt{'ari-end-in'} // $opt{'ari-start-in'} + 1);
    } else {
        my $life = $cert->{not_after} - $cert->{not_before};
        $start = $cert->{not_before} + $life * 2 / 3;
        $end = $cert->{not_after} - $life / 10;
    }

    return reply(200, { suggestedWindow => { start => rfc3339($start),
                                             end => rfc3339($end) } },
                 'Retry-After' => $opt{'ari-retry-after'});
}

# root and intermediate CA, EC P-256

sub make_ca {
    spew("$dir/ca.cnf", <<"EOF");
[req]
distinguished_name = dn
prompt = no

[dn]
CN = mock-acme

[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ca]
default_ca = mock

[mock]
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
certificate = $dir/intermediate.crt
private_key = $dir/intermediate.key
default_md = sha256
policy = policy
unique_subject = no
email_in_dn = no

[policy]
commonName = optional
organizationName = optional
EOF

    spew("$dir/index.txt", '');

    my @key = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
               '-nodes');

    defined openssl('req', '-config', "$dir/ca.cnf", '-x509', @key,
                    '-keyout', "$dir/root.key", '-out', "$dir/root.crt",
                    '-days', 3650, '-subj', '/CN=mock-acme root',
                    '-extensions', 'root')
        && defined openssl('req', '-config', "$dir/ca.cnf", '-new', @key,
                           '-keyout', "$dir/intermediate.key",
                           '-out', "$dir/intermediate.csr",
                           '-subj', '/CN=mock-acme intermediate')
        && defined openssl('x509', '-req', '-in', "$dir/intermediate.csr",
                           '-CA', "$dir/root.crt", '-CAkey', "$dir/root.key",
                           '-set_serial', '0x' . unpack('H*', random(16)),
                           '-days', 3650, '-extfile', "$dir/ca.cnf",
                           '-extensions', 'intermediate',
                           '-out', "$dir/intermediate.crt")
        or die "mock-acme: cannot make the CA, see $dir/openssl.log\n";
}

# openssl's stdout, or undef if it fails; stderr goes to DIR/openssl.log

sub openssl {
    my @args = @_;

    my $pid = open(my $out, '-|') // die "fork: $!\n";

    if ($pid == 0) {
        open STDERR, '>>', "$dir/openssl.log";
        exec 'openssl', @args or POSIX::_exit(127);
    }

    my $text = do { local $/; <$out> } // '';
    close $out;

    if ($?) {
        warn "mock-acme: openssl @args failed, see $dir/openssl.log\n";
        return;
    }

    return $text;
}

# RFC 7638: the members a key needs, in order, without spaces

sub thumbprint {
    my ($jwk) = @_;

    return unless ref $jwk eq 'HASH';

    my $members = { EC => [qw(crv kty x y)], RSA => [qw(e kty n)] }
                  ->{$jwk->{kty} // ''} or return;

    for (@$members) {
        return unless defined $jwk->{$_} && $jwk->{$_} =~ /^[\w-]+$/;
    }

    return b64u_encode(sha256('{' . join(',', map { "\"$_\":\"$jwk->{$_}\"" }
                                                 @$members) . '}'));
}

sub reply {
    my ($status, $object, %headers) = @_;
    return ($status, { 'Content-Type' => 'application/json', %headers },
            $json->encode($object));
}

sub problem {
    my ($status, $type, $detail, %headers) = @_;
    return ($status, { 'Content-Type' => 'application/problem+json',
                       %headers },
            $json->encode({ type => "urn:ietf:params:acme:error:$type",
                            detail => $detail, status => $status }));
}

sub new_nonce {
    my $nonce = b64u_encode(random(16));
    $nonces{$nonce} = 1;
    return $nonce;
}

sub random {
    my ($n) = @_;
    open my $fh, '<:raw', '/dev/urandom' or die "/dev/urandom: $!\n";
    my $bytes;
    read $fh, $bytes, $n;
    return $bytes;
}

sub b64u_encode {
    my ($s) = @_;
    $s = encode_base64($s, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

# undef unless it is base64url without padding

sub b64u_decode {
    my ($s) = @_;
    return unless defined $s && !ref $s && $s =~ /^[\w-]*$/
                  && length($s) % 4 != 1;
    $s =~ tr{-_}{+/};
    return decode_base64($s);
}

sub rfc3339 {
    return strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $_[0]);
}

sub asn1_time {
    return strftime('%y%m%d%H%M%SZ', gmtime $_[0]);
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!\n";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or die "$path: $!\n";
    print $fh $data;
    close $fh;
}
