package Certmate::Test;

# The test harness: a temporary prefix, a configuration from a heredoc
# with placeholders, free ports, a real nginx with the freshly built
# module, a test PKI made with openssl, and clients (curl, openssl
# s_client, IO::Socket::SSL).
#
# Placeholders in configurations:
#   %%DIR%%          the temporary prefix
#   %%PORT_name%%    a free TCP port, the same for the same name
#
# At stop, the error log must have no [alert], [crit] or [emerg] line
# that the test did not announce with expect_log().
#
# With CERTMATE_SANITIZE set to the sanitizer runtimes to preload (and
# CERTMATE_MODULE to a module built with them), nginx runs under them,
# and any report they write fails the test.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use Fcntl qw(:flock O_RDONLY O_CREAT);
use File::Path qw(make_path);
use File::Spec;
use IO::Socket::INET;
use IPC::Open3;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use POSIX qw(WNOHANG);
use Symbol qw(gensym);
use Test::More;
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(slurp spew);

my $top = $ENV{CERTMATE_TOP} || do {
    my $d = __FILE__;
    $d =~ s{/t/lib/Certmate/Test\.pm$}{};
    $d eq __FILE__ ? '.' : $d;
};

our $NGINX = $ENV{CERTMATE_NGINX} || '/usr/sbin/nginx';
our $MODULE = $ENV{CERTMATE_MODULE} || "$top/build/ngx_certmate_module.so";
our $TOP = $top;

sub new {
    my ($class, %opts) = @_;

    for my $tool ($NGINX, 'openssl', 'curl') {
        my $found = $tool =~ m{/} ? -x $tool
                  : !system("command -v $tool >/dev/null 2>&1");
        plan(skip_all => "$tool is not installed") unless $found;
    }

    plan(skip_all => "$MODULE is not built (scripts/build.sh)")
        unless -f $MODULE;

    my $dir = tempdir('certmate-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{CERTMATE_KEEP});
    chmod 0755, $dir;

    my $self = bless {
        dir => $dir,
        ports => {},
        expected => [],
        workers => $opts{workers} || 1,
        running => 0,
        serial => 0,
    }, $class;

    return $self;
}

sub dir { $_[0]{dir} }

# a free TCP port on 127.0.0.1, the same for the same name; reserved
# (a lock on a file of its number, held until the test exits) so that
# test files run side by side never take the same one, even a port that
# one of them keeps closed on purpose

my $port_locks = File::Spec->catdir(File::Spec->tmpdir, 'certmate-ports');

sub port {
    my ($self, $name) = @_;

    return $self->{ports}{$name} if $self->{ports}{$name};

    # shared by every user who runs the tests; a lock needs no write access
    chmod 01777, make_path($port_locks);

    for (1 .. 100) {
        my $port = 20000 + int(rand(30000));
        next if grep { $_ == $port } values %{$self->{ports}};
        sysopen(my $lock, "$port_locks/$port", O_RDONLY | O_CREAT) or next;
        flock($lock, LOCK_EX | LOCK_NB) or next;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Proto => 'tcp',
                                      ReuseAddr => 1, Listen => 1)
            or next;
        close $s;
        push @{$self->{port_locks}}, $lock;
        return $self->{ports}{$name} = $port;
    }

    die "no free port";
}

sub expand {
    my ($self, $text) = @_;

    $text =~ s/%%DIR%%/$self->{dir}/g;
    $text =~ s/%%PORT_(\w+)%%/$self->port($1)/ge;
    return $text;
}

# the configuration: main-context basics, then the test's own text

sub conf {
    my ($self, $text, %opts) = @_;

    my $workers = $opts{workers} || $self->{workers};
    my $level = $opts{log_level} || 'info';
    my $user = $> == 0 ? "user nobody nogroup;\n" : '';

    my $main = <<"EOF";
load_module $MODULE;
${user}worker_processes $workers;
pid %%DIR%%/nginx.pid;
error_log %%DIR%%/error.log $level;
events { worker_connections 1024; }
EOF

    # nginx's temporary files stay in the test's prefix; TLS 1.3 is on
    # (nginx 1.22 leaves it out by default)

    my $http = join '', map { "    ${_}_temp_path %%DIR%%/$_;\n" }
                        qw(client_body proxy fastcgi uwsgi scgi);
    $http .= "    ssl_protocols TLSv1.2 TLSv1.3;\n";
    $text =~ s/^http \{\n/http {\n$http/m;

    spew("$self->{dir}/nginx.conf", $self->expand($main . $text));
    return $self;
}

sub write_file {
    my ($self, $name, $content) = @_;
    my $path = "$self->{dir}/$name";
    spew($path, $content);
    return $path;
}

# nginx -t: (exit code, output)

sub test_config {
    my ($self, @args) = @_;

    my $out = $self->nginx('-t', @args);
    return ($? >> 8, $out);
}

# runs the nginx binary on the test's prefix and configuration

sub nginx {
    my ($self, @args) = @_;

    return $self->run_nginx('-p', "$self->{dir}/",
                            '-c', "$self->{dir}/nginx.conf", @args);
}

# runs the nginx binary, under the sanitizers when asked

sub run_nginx {
    my ($self, @args) = @_;

    local $ENV{LD_PRELOAD} = $ENV{CERTMATE_SANITIZE} if $ENV{CERTMATE_SANITIZE};
    local $ENV{ASAN_OPTIONS} = "log_path=$self->{dir}/sanitizer/report"
                               . ':detect_leaks=0';
    local $ENV{UBSAN_OPTIONS} = "log_path=$self->{dir}/sanitizer/report"
                                . ':print_stacktrace=1';

    if (!-d "$self->{dir}/sanitizer") {
        mkdir "$self->{dir}/sanitizer";
        chmod 01777, "$self->{dir}/sanitizer";
    }

    return run_cmd($NGINX, @args);
}

sub run {
    my ($self) = @_;

    unlink "$self->{dir}/nginx.pid";

    my $out = $self->nginx;
    if ($?) {
        die "nginx failed to start: $out\n" . $self->read_log;
    }

    $self->{running} = 1;

    $self->wait_for(sub { -s "$self->{dir}/nginx.pid" }, 5)
        or die "no pid file\n" . $self->read_log;

    $self->wait_ports;
    return $self;
}

sub wait_ports {
    my ($self) = @_;

    my $conf = slurp("$self->{dir}/nginx.conf");
    my @ports = $conf =~ /listen\s+127\.0\.0\.1:(\d+)/g;

    for my $port (@ports) {
        $self->wait_for(sub {
            IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Proto => 'tcp');
        }, 5) or die "port $port is not listening\n" . $self->read_log;
    }
}

sub master_pid {
    my ($self) = @_;
    my $pid = slurp("$self->{dir}/nginx.pid");
    chomp $pid;
    return $pid;
}

# pids of the master's children by title: 'worker process', 'cache manager'

sub children {
    my ($self, $title) = @_;

    my $master = $self->master_pid;
    my @pids;

    for my $stat (glob "/proc/[0-9]*/stat") {
        my ($pid) = $stat =~ m{/proc/(\d+)/};
        my $line = eval { slurp($stat) } or next;
        my ($ppid) = $line =~ /^\d+ \(.*?\) \S+ (\d+)/ or next;
        next unless $ppid == $master;
        my $cmd = eval { slurp("/proc/$pid/cmdline") } or next;
        push @pids, $pid if $cmd =~ /\Q$title\E/;
    }

    @pids = sort { $a <=> $b } @pids;
    return @pids;
}

sub reload {
    my ($self) = @_;

    my @old = $self->children('worker process');
    my $out = $self->nginx('-s', 'reload');
    die "reload failed: $out" if $?;

    $self->wait_for(sub {
        my %old = map { $_ => 1 } @old;
        my @new = grep { !$old{$_} } $self->children('worker process');
        return @new >= $self->{workers};
    }, 10) or die "no new workers after reload\n" . $self->read_log;

    $self->wait_ports;
    return $self;
}

sub stop {
    my ($self) = @_;

    return unless $self->{running};
    $self->{running} = 0;

    my $pid = $self->master_pid;
    kill 'QUIT', $pid;

    unless ($self->wait_for(sub { !kill 0, $pid }, 10)) {
        kill 'KILL', $pid;
        fail('nginx exits on QUIT');
    }

    $self->check_log;
}

sub DESTROY {
    my ($self) = @_;

    return unless $self->{running};
    local $?;
    $self->stop;
}

# lines of the error log that the test expects at alert level or above

sub expect_log {
    my ($self, $re) = @_;
    push @{$self->{expected}}, $re;
}

sub check_log {
    my ($self) = @_;

    my @bad = grep {
        my $line = $_;
        /\[(alert|crit|emerg)\]/ && !grep { $line =~ $_ } @{$self->{expected}}
    } split /\n/, $self->read_log;

    ok(!@bad, 'no unexpected alert, crit or emerg in the error log')
        or diag(join "\n", @bad);

    my @reports = glob "$self->{dir}/sanitizer/report*";
    ok(!@reports, 'no sanitizer report')
        or diag(join "\n", map { slurp($_) } @reports);
    unlink @reports;
}

sub read_log {
    my ($self) = @_;
    my $path = "$self->{dir}/error.log";
    return -f $path ? slurp($path) : '';
}

# waits until the error log matches, returns the match

sub wait_log {
    my ($self, $re, $timeout) = @_;
    my $found;

    $self->wait_for(sub {
        ($found) = grep { $_ =~ $re } split /\n/, $self->read_log;
        $found;
    }, $timeout || 5);

    return $found;
}

sub wait_for {
    my ($self, $cond, $timeout) = @_;

    my $end = time + $timeout;
    while (time < $end) {
        my $r = $cond->();
        return $r if $r;
        sleep 0.05;
    }
    return $cond->();
}

# --- the test PKI -------------------------------------------------------

sub ca {
    my ($self, $name, %opts) = @_;

    my $base = "$self->{dir}/pki/$name";
    make_path("$self->{dir}/pki");

    my $key = $self->genkey("$base.key", $opts{key} || 'ec-p256');

    if ($opts{issuer}) {
        my $csr = "$base.csr";
        openssl('req', '-new', '-key', $key, '-subj', "/CN=$name",
                '-out', $csr);
        my $ext = $self->write_file("pki/$name.ext",
            "basicConstraints=critical,CA:TRUE\n"
            . "keyUsage=critical,keyCertSign,cRLSign\n");
        openssl('x509', '-req', '-in', $csr, '-CA', $opts{issuer}{crt},
                '-CAkey', $opts{issuer}{key}, '-set_serial',
                ++$self->{serial} + 1000, '-days', 365, '-extfile', $ext,
                '-out', "$base.crt");

    } else {
        openssl('req', '-x509', '-new', '-key', $key, '-subj', "/CN=$name",
                '-days', 365, '-addext', 'basicConstraints=critical,CA:TRUE',
                '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
                '-out', "$base.crt");
    }

    return { name => $name, key => $key, crt => "$base.crt",
             issuer => $opts{issuer} };
}

# a leaf certificate: names => [...], key => 'ec-p256' etc., issuer => ca

sub cert {
    my ($self, $file, %opts) = @_;

    my $base = "$self->{dir}/pki/$file";
    make_path("$self->{dir}/pki");

    my @names = @{$opts{names}};
    my $san = join ',', map { /^[\d.]+$/ ? "IP:$_" : "DNS:$_" } @names;
    my @subject = ('-subj', "/CN=" . ($opts{cn} || $names[0]));
    my @key = (newkey($opts{key} || 'ec-p256'), '-nodes',
               '-keyout', "$base.key");
    my @ext = ('subjectAltName=' . $san, 'basicConstraints=CA:FALSE',
               'extendedKeyUsage=serverAuth');
    my @days = ('-days', $opts{days} || 30);
    my $serial = ++$self->{serial};

    my $issuer = $opts{issuer};

    if ($issuer) {
        openssl('req', '-new', @key, @subject, '-out', "$base.csr");
        my $extfile = $self->write_file("pki/$file.ext",
                                        join("\n", @ext) . "\n");
        openssl('x509', '-req', '-in', "$base.csr", '-CA', $issuer->{crt},
                '-CAkey', $issuer->{key}, '-set_serial', $serial, @days,
                '-extfile', $extfile, '-out', "$base.crt");

    } else {
        openssl('req', '-x509', @key, @subject, '-set_serial', $serial,
                @days, (map { ('-addext', $_) } @ext), '-out', "$base.crt");
    }

    my @chain;
    for (my $ca = $issuer; $ca && $ca->{issuer}; $ca = $ca->{issuer}) {
        push @chain, $ca->{crt};
    }

    return {
        key => "$base.key",
        crt => "$base.crt",
        chain => [ @chain ],
        pem => join('', map { slurp($_) } "$base.crt", @chain),
        fingerprint => fingerprint("$base.crt"),
    };
}

sub genkey {
    my ($self, $path, $type) = @_;

    my @args = $type =~ /^ec-p(\d+)$/
        ? ('-algorithm', 'EC', '-pkeyopt', "ec_paramgen_curve:P-$1")
        : $type =~ /^rsa-(\d+)$/
        ? ('-algorithm', 'RSA', '-pkeyopt', "rsa_keygen_bits:$1")
        : die "unknown key type $type";

    openssl('genpkey', @args, '-out', $path);
    return $path;
}

# "openssl req" arguments for a new key of a type

sub newkey {
    my ($type) = @_;

    return ('-newkey', 'ec', '-pkeyopt', "ec_paramgen_curve:P-$1")
        if $type =~ /^ec-p(\d+)$/;
    return ('-newkey', "rsa:$1") if $type =~ /^rsa-(\d+)$/;
    die "unknown key type $type";
}

# SHA-256 of the first certificate of a PEM file, in lowercase hex

sub fingerprint {
    my ($crt) = @_;

    my ($b64) = slurp($crt) =~ /-----BEGIN CERTIFICATE-----(.*?)-----END/s
        or die "$crt: no certificate";
    return sha256_hex(decode_base64($b64));
}

sub openssl {
    my $out = run_cmd('openssl', @_);
    die "openssl @_ failed: $out" if $?;
    return $out;
}

# --- clients ------------------------------------------------------------

# the admin API through curl: (status, decoded JSON or undef, headers)

sub admin {
    my ($self, $method, $path, %opts) = @_;

    my $url = "http://127.0.0.1:" . $self->port($opts{port} || 'admin')
              . ($opts{prefix} // '/certmate') . $path;

    my @args = ('curl', '-s', '-o', "$self->{dir}/body", '-D',
                "$self->{dir}/headers", '-w', '%{http_code}', '-X', $method);

    my $token = exists $opts{token} ? $opts{token} : 'secret';
    push @args, '-H', "Authorization: Bearer $token" if defined $token;

    if (exists $opts{json}) {
        my $body = ref $opts{json} ? encode_json($opts{json}) : $opts{json};
        $self->write_file('request', $body);
        push @args, '-H', 'Content-Type: '
                         . ($opts{type} || 'application/json'),
                    '--data-binary', "\@$self->{dir}/request";
    }

    push @args, @{$opts{curl} || []}, $url;

    my $status = run_cmd(@args);
    my $body = slurp("$self->{dir}/body");
    my $headers = slurp("$self->{dir}/headers");
    my $json = eval { decode_json($body) };

    return ($status, $json, $headers, $body);
}

sub import_cert {
    my ($self, $cert, %opts) = @_;

    return $self->admin('POST', '/v1/certificates', %opts, json => {
        certificate => $cert->{pem},
        private_key => scalar slurp($cert->{key}),
    });
}

# an EST simpleenroll of a new P-256 key for $name on the "admin" port,
# through curl as alice:wonderland: (status, body)

sub est_enroll {
    my ($self, $name) = @_;

    my $base = "$self->{dir}/$name";

    openssl('req', '-new', newkey('ec-p256'), '-nodes', '-keyout',
            "$base.key", '-subj', "/CN=$name", '-outform', 'DER',
            '-out', "$base.der");
    $self->write_file('request', encode_base64(slurp("$base.der")));

    my $status = run_cmd('curl', '-s', '-o', "$self->{dir}/body",
        '-w', '%{http_code}', '-u', 'alice:wonderland',
        '-H', 'Content-Type: application/pkcs10',
        '--data-binary', "\@$self->{dir}/request",
        'http://127.0.0.1:' . $self->port('admin')
        . '/.well-known/est/simpleenroll');

    return ($status, scalar slurp("$self->{dir}/body"));
}

# a TLS handshake with openssl s_client: {fingerprint, alert, output}

sub handshake {
    my ($self, $name, %opts) = @_;

    my $port = $self->port($opts{port} || 'https');
    my @args = ('openssl', 's_client', '-connect', "127.0.0.1:$port",
                @{$opts{args} || []});
    push @args, defined $name ? ('-servername', $name) : ('-noservername');

    my $out = run_cmd(@args, { stdin => '' });
    my %r = (output => $out);

    $r{protocol} = $1 if $out =~ /^New, (TLSv[\d.]+),/m;

    if ($out =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----)/s) {
        my $path = $self->write_file('served.crt', "$1\n");
        $r{fingerprint} = fingerprint($path);
    }

    my %alerts = (40 => 'handshake failure', 80 => 'internal error',
                  112 => 'unrecognized name');

    if ($out =~ /SSL alert number (\d+)/) {
        $r{alert} = $alerts{$1} || "alert $1";
    }

    return \%r;
}

# the SHA-256 fingerprint (lowercase hex) of the certificate served for a
# name, by IO::Socket::SSL without a session cache; undef: no handshake

sub served_fingerprint {
    my ($self, $name, %opts) = @_;

    require IO::Socket::SSL;

    my $ssl = IO::Socket::SSL->new(
        PeerAddr => '127.0.0.1:' . $self->port($opts{port} || 'https'),
        SSL_hostname => $name,
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
        SSL_session_cache_size => 0,
        Timeout => 10,
    ) or return undef;

    (my $fp = $ssl->get_fingerprint('sha256')) =~ s/^sha256\$//;
    $ssl->close(SSL_no_shutdown => 1);
    $fp =~ s/://g;

    return lc $fp;
}

# --- helpers ------------------------------------------------------------

# runs a command without a shell: output and error together

sub run_cmd {
    my $opts = ref $_[-1] eq 'HASH' ? pop : {};
    my @cmd = @_;

    my $pid = open3(my $in, my $out, undef, @cmd);
    print $in $opts->{stdin} if defined $opts->{stdin};
    close $in;

    local $/;
    my $output = <$out> // '';
    waitpid($pid, 0);

    return $output;
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or die "$path: $!";
    local $/;
    my $data = <$fh>;
    return $data // '';
}

sub spew {
    my ($path, $data) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $data;
    close $fh;
}

1;
