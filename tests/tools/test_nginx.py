"""tools/nginx: crossplane-parsed servers, locations, proxy targets, upstreams, restrictions, errors."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert nginx.parse_nginx(tmp_path / "nope.conf").errors[0].message.endswith("nope.conf does not exist")
    bad = tmp_path / "bad.conf"
    bad.write_text("events {}\nhttp {\n  server {\n    listen 80;\n    location / { proxy_pass; }\n  }\n}\n")
    conf = nginx.parse_nginx(bad)
    assert [(e.where.line, e.message) for e in conf.errors] == [(5, 'invalid number of arguments in "proxy_pass" directive')]
    latin = tmp_path / "latin.conf"
    latin.write_bytes(b"events {}\nhttp { server { listen 80; server_name caf\xe9; } }\n")
    nginx.parse_nginx(latin)  # never raises, whatever crossplane makes of the bytes


# ---------------------------------------------------------------- in context: where the container reads each file

PLACED = FIX / "placement"


def _platform(tmp_path, compose: str, files: dict[str, str], dockerfile: str | None = None):
    """A one-service repo: `files` maps repo paths to fixtures under placement/, `compose` is compose.yaml."""
    from sources.provenance import LoadedSource
    from tools.platform import build_platform

    for rel, fixture in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((PLACED / fixture).read_bytes())
    (tmp_path / "compose.yaml").write_text(compose)
    sources = []
    if dockerfile is not None:
        (tmp_path / "proxy").mkdir(exist_ok=True)
        (tmp_path / "proxy" / "Dockerfile").write_text(dockerfile)
        sources.append(LoadedSource(kind="dockerfile", path="proxy/Dockerfile", status="ok", text=dockerfile))
    return build_platform(tmp_path, sources, {"dev": ["compose.yaml"]}, hadolint=False)


def _check(platform, check_id: str) -> list:
    from tools.checks import CHECKS, CheckContext

    spec = CHECKS[check_id]
    return list(spec.func(CheckContext(platform.root, None, [], models={"platform": platform}), spec))


def _xf010(platform) -> list:
    return _check(platform, "XF010")


MOUNTED = """services:
  proxy:
    image: nginx:1.27-alpine
    volumes:
      - ./nginx/{src}:{target}:ro
  app:
    image: example/app:1.0
"""
BUILT = """services:
  proxy:
    build: ./proxy
  app:
    image: example/app:1.0
"""


def test_conf_d_snippet_mounted_by_compose_is_an_http_include(tmp_path):
    p = _platform(tmp_path, MOUNTED.format(src="site.conf", target="/etc/nginx/conf.d/default.conf"),
                  {"nginx/site.conf": "site.conf"})
    conf = p.nginx["nginx/site.conf"]
    assert (conf.context, conf.placed_at, conf.errors) == ("http", "/etc/nginx/conf.d/default.conf", [])
    assert [s.ports for s in conf.servers] == [[80]] and "app_backend" in conf.upstreams
    assert p.nginx_for(p.environments["dev"], "proxy") == [("nginx/site.conf", "volume in dev")]
    assert _xf010(p) == []
    src = p.nginx_sources["nginx/site.conf"]
    assert (src.kind, src.status, len(src.sha256)) == ("nginx", "ok", 64)


def test_conf_d_snippet_copied_by_a_dockerfile_is_an_http_include(tmp_path):
    for dockerfile in ("FROM nginx:1.27-alpine\nCOPY conf.d/ /etc/nginx/conf.d/\n",
                       "FROM nginx:1.27-alpine\nCOPY conf.d/site.conf /etc/nginx/conf.d\n",
                       "FROM nginx:1.27-alpine\nCOPY conf.d/*.conf /etc/nginx/conf.d/\n",
                       "FROM nginx:1.27-alpine\nCOPY conf.d/site.conf /etc/nginx/templates/site.conf.template\n"):
        p = _platform(tmp_path, BUILT, {"proxy/conf.d/site.conf": "site.conf"}, dockerfile)
        conf = p.nginx["proxy/conf.d/site.conf"]
        assert (conf.context, conf.errors) == ("http", []), dockerfile
        assert p.nginx_for(p.environments["dev"], "proxy") == [("proxy/conf.d/site.conf", "COPY in proxy/Dockerfile")]
        assert _xf010(p) == [], dockerfile


def test_a_whole_nginx_conf_copied_into_conf_d_is_a_finding_at_its_line(tmp_path):
    p = _platform(tmp_path, MOUNTED.format(src="full.conf", target="/etc/nginx/conf.d/default.conf"),
                  {"nginx/full.conf": "full.conf"})
    (finding,) = _xf010(p)  # one finding, not one per main-context directive
    assert [(loc.path, loc.line) for loc in finding.locations] == [("nginx/full.conf", 4)]  # events {
    assert finding.severity == "high" and "refuses to start" in finding.title
    assert p.nginx["nginx/full.conf"].servers  # still read: its servers are checked too


def test_the_same_whole_config_as_nginx_conf_is_fine(tmp_path):
    p = _platform(tmp_path, MOUNTED.format(src="full.conf", target="/etc/nginx/nginx.conf"),
                  {"nginx/full.conf": "full.conf"})
    assert p.nginx["nginx/full.conf"].context == "main"
    assert _xf010(p) == []
    p = _platform(tmp_path, BUILT, {"proxy/nginx.conf": "full.conf"},
                  "FROM nginx:1.27-alpine\nCOPY nginx.conf /etc/nginx/nginx.conf\n")
    assert (p.nginx["proxy/nginx.conf"].context, _xf010(p)) == ("main", [])


def test_a_server_snippet_as_nginx_conf_is_still_reported(tmp_path):
    p = _platform(tmp_path, MOUNTED.format(src="site.conf", target="/etc/nginx/nginx.conf"),
                  {"nginx/site.conf": "site.conf"})
    assert any('"upstream" directive is not allowed here' in f.title for f in _xf010(p))


def test_a_self_including_config_is_one_finding(tmp_path):
    p = _platform(tmp_path, MOUNTED.format(src="self-include.conf", target="/etc/nginx/nginx.conf"),
                  {"nginx/self-include.conf": "self-include.conf"})
    (finding,) = _xf010(p)
    assert "include cycle" in finding.title and [(l.path, l.line) for l in finding.locations] == [
        ("nginx/self-include.conf", 4)]
    conf = nginx.parse_nginx(PLACED / "self-include.conf")  # from disk: includes nginx.conf beside it, absent
    assert [m.target for m in conf.missing_includes] == ["nginx.conf"]


def test_a_file_that_includes_itself_by_its_own_name(tmp_path):
    (tmp_path / "loop.conf").write_text("events {}\nhttp { include loop.conf; }\n")
    conf = nginx.parse_nginx(tmp_path / "loop.conf")
    assert [e.kind for e in conf.errors] == ["cycle"] and conf.errors[0].where.line == 2


def test_an_absent_include_is_cannot_tell_never_a_blocker(tmp_path):
    p = _platform(tmp_path, MOUNTED.format(src="absent-include.conf", target="/etc/nginx/conf.d/default.conf"),
                  {"nginx/absent-include.conf": "absent-include.conf"})
    (finding,) = _xf010(p)
    assert finding.severity == "info" and "cannot tell" in finding.title
    assert [(l.path, l.line) for l in finding.locations] == [("nginx/absent-include.conf", 3)]


def test_a_file_of_unknown_placement_is_parsed_leniently_and_said_so(tmp_path):
    p = _platform(tmp_path, MOUNTED.format(src="odd-place.conf", target="/etc/nginx/custom/odd.conf"),
                  {"nginx/odd-place.conf": "odd-place.conf"})
    conf = p.nginx["nginx/odd-place.conf"]
    assert (conf.context, conf.parsed_as, conf.errors, conf.listen_ports) == ("unknown", "http", [], [8081])
    (finding,) = _xf010(p)
    assert finding.severity == "info" and "/etc/nginx/custom/odd.conf" in finding.title


def test_an_nginx_config_over_the_size_cap_is_not_read_whole(tmp_path):
    big = tmp_path / "big.conf"
    big.write_text("events {}\nhttp {\n" + "  # padding\n" * 2000 + "}\n")
    conf = nginx.parse_nginx(big, max_bytes=1024)
    assert conf.files == [] and conf.errors[0].kind == "unreadable" and "cap" in conf.errors[0].message
    reader = nginx.SourceReader(tmp_path, [], max_bytes=1024)
    text, why = reader.read("big.conf")
    assert text is None and "cap" in why and reader.sources["big.conf"].status == "unreadable"


def test_deep_nesting_and_truncated_input_are_one_error():
    conf = nginx.parse_nginx_text("http {" * 5000 + "}" * 5000, "deep.conf")
    assert [e.where.line for e in conf.errors if "nested deeper" in e.message] == [1]
    conf = nginx.parse_nginx_text('events {}\nhttp { server { listen "80', "cut.conf")
    assert len(conf.errors) == 1 and not conf.ok


def test_conf_d_reached_through_the_main_configs_include_counts_once(tmp_path):
    compose = ("services:\n  proxy:\n    image: nginx:1.27-alpine\n    volumes:\n"
               "      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro\n      - ./nginx/conf.d:/etc/nginx/conf.d:ro\n"
               "  app:\n    image: example/app:1.0\n")
    p = _platform(tmp_path, compose, {"nginx/nginx.conf": "main-with-confd.conf", "nginx/conf.d/site.conf": "site.conf"})
    main = p.nginx["nginx/nginx.conf"]
    assert main.errors == [] and main.missing_includes == []  # mime.types is the image's own
    (server,) = main.servers
    assert server.where.path == str(tmp_path / "nginx/conf.d/site.conf") and "app_backend" in main.upstreams
    assert p.nginx["nginx/conf.d/site.conf"].context == "http"
    assert p.nginx_for(p.environments["dev"], "proxy") == [("nginx/nginx.conf", "volume in dev")]
    assert p.nginx_files_for(p.environments["dev"], "proxy") == ["nginx/nginx.conf", "nginx/conf.d/site.conf"]
    assert _xf010(p) == []


def test_a_symlink_loop_placed_as_nginx_config_is_cannot_tell(tmp_path):
    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx" / "a.conf").symlink_to("b.conf")
    (tmp_path / "nginx" / "b.conf").symlink_to("a.conf")
    p = _platform(tmp_path, MOUNTED.format(src="a.conf", target="/etc/nginx/conf.d/default.conf"), {})
    (finding,) = _xf010(p)
    assert finding.severity == "info" and "cannot tell" in finding.title
    assert p.nginx_sources["nginx/a.conf"].status == "unreadable"


def test_hostile_nginx_files_through_a_review(tmp_path):
    """The example's dev proxy config replaced by hostile files: each is one XF010 line, no check crashes."""
    from agent.example import init_example
    from agent.session import open_session

    root = init_example(tmp_path / "animesphere")
    conf = root / "anime-saas-reverseproxy" / "nginx-test.conf"
    rel = "anime-saas-reverseproxy/nginx-test.conf"
    cases = {
        "self-include": ("events {}\nhttp {\n    include nginx.conf;\n}\n", "include cycle", "high"),
        "absent include": ("events {}\nhttp {\n    include snippets/absent.conf;\n}\n", "cannot tell", "info"),
        "over the cap": ("events {}\nhttp {\n" + "    # padding\n" * 200_000 + "}\n", "cap", "info"),
    }
    for name, (text, words, severity) in cases.items():
        conf.write_text(text)
        session = open_session(root)
        mine = [f for f in session.findings if f.id == "XF010" and any(l.path == rel for l in f.locations)]
        assert [(words in f.title, f.severity) for f in mine] == [(True, severity)], (name, [f.title for f in mine])
        assert not [n for n in session.notes if "could not run" in n], (name, session.notes)


def test_the_platform_reads_nginx_files_with_the_sources_size_cap(tmp_path):
    from tools.platform import build_platform

    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx" / "site.conf").write_text((PLACED / "site.conf").read_text() + "# pad\n" * 400)
    (tmp_path / "compose.yaml").write_text(MOUNTED.format(src="site.conf", target="/etc/nginx/conf.d/default.conf"))
    p = build_platform(tmp_path, [], {"dev": ["compose.yaml"]}, hadolint=False, max_file_bytes=1000)
    (finding,) = _xf010(p)
    assert finding.severity == "info" and "over the 1000-byte cap" in finding.title
    assert p.nginx["nginx/site.conf"].servers == []


def test_a_conf_d_snippets_proxy_targets_are_checked(tmp_path):
    """Read as a main config, a conf.d snippet had no servers, so where it sends traffic went unchecked."""
    compose = MOUNTED.format(src="site.conf", target="/etc/nginx/conf.d/default.conf").replace("  app:\n", "  web:\n")
    p = _platform(tmp_path, compose, {"nginx/site.conf": "site.conf"})
    (finding,) = _check(p, "XF006")
    assert "app:8000, not a service of dev" in finding.title
    assert [(l.path, l.line) for l in finding.locations] == [("nginx/site.conf", 11)]


def test_sites_enabled_and_template_folders_are_http_includes(tmp_path):
    p = _platform(tmp_path, MOUNTED.format(src="sites", target="/etc/nginx/sites-enabled"),
                  {"nginx/sites/site": "site.conf"})
    assert p.nginx["nginx/sites/site"].context == "http" and _xf010(p) == []
    p = _platform(tmp_path, BUILT, {"proxy/templates/site.conf.template": "site.conf"},
                  "FROM nginx:1.27-alpine\nCOPY templates /etc/nginx/templates\n")
    assert p.nginx["proxy/templates/site.conf.template"].context == "http" and _xf010(p) == []


_TOKENS = ["events", "http", "server", "location", "/", "upstream", "include", "listen", "80", "proxy_pass",
           "http://app:8000", "{", "}", ";", '"', "'", "\\", "#", "$", "${X}", "if", "(", ")", "\n", " ",
           "nginx.conf", "*.conf", "server_name", "é", "\x00"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=60).map(" ".join), st.sampled_from(nginx.CONTEXTS))
def test_the_parser_never_raises_on_any_text(text, context):
    conf = nginx.parse_nginx_text(text, "/fuzz/nginx.conf", context,
                                  lambda target, _from: [("/fuzz/nginx.conf", text, None)])
    assert all(isinstance(e.message, str) for e in conf.errors)


def test_a_glob_over_a_huge_folder_reads_a_bounded_number_of_files(tmp_path):
    (tmp_path / "conf.d").mkdir()
    for i in range(nginx.MAX_FILES + 50):
        (tmp_path / "conf.d" / f"s{i:04}.conf").write_text(f"server {{ listen {1000 + i}; }}\n")
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n    include conf.d/*.conf;\n}\n")
    conf = nginx.parse_nginx(tmp_path / "nginx.conf")
    assert len(conf.files) == nginx.MAX_FILES and [e.kind for e in conf.errors] == ["limit"]
    assert conf.errors[0].where.line == 3


def test_a_file_placed_elsewhere_but_included_is_read_in_the_includers_context(tmp_path):
    compose = ("services:\n  proxy:\n    image: nginx:1.27-alpine\n    volumes:\n"
               "      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro\n      - ./nginx/extra:/etc/nginx/extra:ro\n"
               "  app:\n    image: example/app:1.0\n")
    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx" / "nginx.conf").write_text("events {}\nhttp {\n    include /etc/nginx/extra/*.conf;\n}\n")
    p = _platform(tmp_path, compose, {"nginx/extra/odd.conf": "odd-place.conf"})
    assert list(p.nginx) == ["nginx/nginx.conf"] and p.nginx["nginx/nginx.conf"].listen_ports == [8081]
    assert _xf010(p) == []
