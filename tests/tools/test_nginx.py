"""tools/nginx: crossplane-parsed servers, locations, proxy targets, upstreams, restrictions, errors."""
from __future__ import annotations

from pathlib import Path

from tools import nginx

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "nginx"


def _loc(server, path):
    return next(l for l in server.all_locations() if l.path == path)


def test_real_nginx_conf(realworld):
    conf = nginx.parse_nginx(realworld / "anime-saas-reverseproxy" / "nginx.conf")
    assert conf.errors == [] and conf.missing_includes == []
    assert conf.listen_ports == [80, 443]
    http, https = conf.servers
    assert (http.where.line, http.ports, http.ssl) == (7, [80], False)
    assert http.server_names == ["localhost", "dev.animesphere.io"]
    acme = _loc(http, "/.well-known/acme-challenge/")
    assert (acme.root, acme.where.line) == ("/var/www/certbot", 12)
    assert conf.roots[0][0] == "/var/www/certbot" and conf.roots[0][1].line == 13
    assert (https.where.line, https.ports, https.ssl, https.http2) == (17, [443], True, True)
    assert [(c.directive, c.path, c.where.line) for c in https.certificates] == [
        ("ssl_certificate", "/etc/letsencrypt/live/dev.animesphere.io/fullchain.pem", 21),
        ("ssl_certificate_key", "/etc/letsencrypt/live/dev.animesphere.io/privkey.pem", 22),
    ]
    api = _loc(https, "^/api/(.*)$")
    assert (api.modifier, api.where.line) == ("~", 31)
    (target,) = api.proxy
    assert (target.scheme, target.host, target.port, target.uri) == ("http", "anime-saas-api", 8080, "/api/$1$is_args$args")
    assert target.where.line == 32 and target.unresolvable is None
    restricted = {loc.path: loc.restriction for _, loc in conf.restricted_locations()}
    assert set(restricted) == {"/swagger/", "/ml/"}
    assert restricted["/ml/"].allow == ["90.127.170.106"] and restricted["/ml/"].deny == ["all"]
    assert restricted["/swagger/"].where.line == 52  # the allow line
    endpoints = {e for t in conf.proxy_targets() for e in t.endpoints()}
    assert endpoints == {("anime-saas-api", 8080), ("anime-saas-mlservice", 5000), ("anime-saas-front", 3000)}


def test_real_nginx_test_conf_reports_the_absent_mime_types(realworld):
    conf = nginx.parse_nginx(realworld / "anime-saas-reverseproxy" / "nginx-test.conf")
    assert conf.errors == []  # an absent include is not a syntax error
    (missing,) = conf.missing_includes
    assert (missing.target, missing.where.line) == ("/etc/nginx/mime.types", 6)
    (server,) = conf.servers
    assert server.ports == [80] and not server.ssl and server.certificates == []
    assert [l.path for l in server.all_locations()] == ["^/api/(.*)$", "/swagger", "/_nuxt/", "/"]
    assert conf.restricted_locations() == []  # unlike prod, swagger is open here


def test_includes_upstreams_variables_and_auth():
    conf = nginx.parse_nginx(FIX / "main.conf")
    assert conf.errors == []
    (missing,) = conf.missing_includes
    assert missing.target == "snippets/missing.conf" and missing.where.line == 5
    assert missing.resolved == str((FIX / "snippets" / "missing.conf").resolve())
    admin, main = conf.servers  # the included server comes first, where the include sits
    assert admin.where.path.endswith("conf.d/admin.conf") and admin.where.line == 1
    assert admin.listens[0].address == "127.0.0.1" and admin.ports == [8081]
    admin_loc = _loc(admin, "/admin/")
    assert admin_loc.restriction.allow == ["10.0.0.0/8"] and admin_loc.restriction.where.line == 6
    assert admin_loc.proxy[0].where.path.endswith("conf.d/admin.conf") and admin_loc.proxy[0].port == 5000
    listen = main.listens[0]
    assert (listen.port, listen.ssl, listen.http2, listen.default_server) == (8443, True, True, True)
    assert main.listens[1].address == "[::]"
    variable = _loc(main, "/").proxy[0]
    assert variable.host is None and "variable" in variable.unresolvable and variable.endpoints() == []
    api = _loc(main, "/api")
    assert api.modifier == "=" and api.restriction.auth_basic == "restricted"
    assert api.restriction.auth_basic_user_file == "/etc/nginx/htpasswd" and api.restriction.restricted
    target = api.proxy[0]
    assert target.upstream is conf.upstreams["api_backend"] and target.port is None
    assert target.endpoints() == [("anime-saas-api", 8080), ("10.0.0.2", 80), ("unix:/run/api.sock", None)]
    assert [s.where.line for s in target.upstream.servers] == [8, 9, 10]
    external = _loc(main, "@external").proxy[0]
    assert (external.scheme, external.host, external.port, external.uri) == ("https", "ext.example.com", 443, "/path")
    static = _loc(main, "/static/")
    assert (static.modifier, static.root) == ("^~", "/srv/www")


def test_syntax_error_has_a_line():
    conf = nginx.parse_nginx(FIX / "syntax-error.conf")
    assert not conf.ok
    assert conf.errors[0].where.line == 4
    assert conf.errors[0].message == 'directive "listen" is not terminated by ";"'
    assert str(conf.errors[0]).endswith('syntax-error.conf:4: directive "listen" is not terminated by ";"')


def test_missing_file_and_bad_arguments(tmp_path):
    assert nginx.parse_nginx(tmp_path / "nope.conf").errors[0].message == "config file not found"
    bad = tmp_path / "bad.conf"
    bad.write_text("events {}\nhttp {\n  server {\n    listen 80;\n    location / { proxy_pass; }\n  }\n}\n")
    conf = nginx.parse_nginx(bad)
    assert [(e.where.line, e.message) for e in conf.errors] == [(5, 'invalid number of arguments in "proxy_pass" directive')]
    latin = tmp_path / "latin.conf"
    latin.write_bytes(b"events {}\nhttp { server { listen 80; server_name caf\xe9; } }\n")
    nginx.parse_nginx(latin)  # never raises, whatever crossplane makes of the bytes
