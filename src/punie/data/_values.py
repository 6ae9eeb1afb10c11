"""Value pools for the generator: paths, commands, working dirs, terminal ids, file contents.

Each pool is built once, then split by a stable hash into ``train`` and ``heldout`` parts with no
value in common (same distribution, different strings), so held-out data tests copying unseen values.
"""

from __future__ import annotations

import hashlib
from functools import cache
from itertools import product

from punie.data._content import generated_bodies

_PATHS = {
    "py": (
        ["src", "src/app", "src/core", "lib", "app", "tests", "scripts", "tools", "pkg/api", "src/utils",
         "backend", "services/auth", "ml/models", "cli", "src/punie_demo", "server/handlers"],
        ["main", "utils", "config", "models", "views", "parser", "server", "client", "db", "helpers", "cache",
         "auth", "routes", "schema", "tasks", "settings", "logger", "io", "metrics", "test_api", "test_utils",
         "__init__", "handlers", "loader", "api_v2", "retry"],
    ),
    "ts": (
        ["src", "web/src", "frontend/src", "src/components", "src/hooks", "packages/ui/src", "app/lib"],
        ["index", "App", "api", "store", "router", "Button", "useAuth", "types", "utils", "config", "theme",
         "client", "Modal", "formatDate"],
    ),
    "rs": (["src", "crates/core/src", "src/bin", "crates/cli/src"],
           ["main", "lib", "error", "config", "parser", "cli", "server"]),
    "go": (["cmd/server", "internal/db", "pkg/http", "internal/auth"],
           ["main", "handler", "store", "config", "server", "middleware"]),
    "md": (["docs", "docs/guides", "notes", "."],
           ["README", "CHANGELOG", "CONTRIBUTING", "setup", "architecture", "TODO", "faq"]),
    "yaml": ([".github/workflows", "config", "deploy/k8s", "."],
             ["ci", "settings", "deployment", "docker-compose", "release", "values"]),
    "json": (["config", ".", "src/data", "fixtures"], ["package", "tsconfig", "settings", "users", "seed", "schema"]),
    "toml": ([".", "config"], ["pyproject", "Cargo", "settings", "ruff"]),
    "txt": (["logs", ".", "data", "out"], ["build", "requirements", "notes", "output", "errors", "results"]),
    "log": (["logs", "tmp", "."], ["app", "test", "server", "build", "deploy"]),
}
_BARE_FILES = ["Makefile", "Dockerfile", ".env.example", ".gitignore", "LICENSE", "Procfile", "src/app/.env",
               "justfile"]

_DIRS = ["frontend", "backend", "services/api", "web", "packages/core", "docs", "infra/terraform", "crates/cli",
         "examples/demo", "tools/scripts", "server", "client", "apps/mobile", "libs/shared", "e2e", "api",
         "packages/ui", "services/worker", "ml", "cmd/server", "site", "plugins/auth", "backend/app", "sdk/python",
         "benchmarks", "internal", "migrations", "deploy", "src", "tests/integration"]

_COMMANDS = [
    "pytest", "pytest -q", "pytest -x", "pytest --lf", "python -m pytest -v", "pytest -k login", "pytest -q tests/unit",
    "pytest tests/test_api.py -x", "pytest -k \"not slow\"", "pytest --cov=src --cov-report=term-missing",
    "npm test", "npm run build", "npm run lint", "npm install", "npm ci", "npm run typecheck",
    "npm run test -- --watch=false",
    "yarn build", "yarn lint --fix", "pnpm install", "pnpm test", "npx tsc --noEmit", "npx eslint src --ext .ts,.tsx",
    "npx prettier --check .", "cargo build", "cargo test", "cargo clippy -- -D warnings", "cargo fmt --check",
    "cargo build --release", "cargo test --workspace", "go test ./...", "go build ./cmd/server", "go vet ./...",
    "go mod tidy", "make", "make test", "make lint", "make docs", "make clean build", "make -j4", "git status",
    "git log --oneline -5", "git diff --stat", "git branch -a", "git stash list", "git log -1 --format=%H",
    "git diff HEAD~1 -- src", "git remote -v", "ls -la", "ls src", "ls -R docs", "grep -rn TODO src",
    "grep -rn \"FIXME\" .", "find . -name '*.py' | wc -l", "wc -l README.md", "du -sh node_modules", "tree -L 2",
    "python manage.py migrate", "python manage.py test", "python scripts/seed.py", "python -m mypy src",
    "ruff check .", "ruff format --check src", "black --check .", "python -c \"import sys; print(sys.version)\"",
    "pip install -r requirements.txt", "pip list --outdated", "docker build -t app .", "docker compose ps",
    "docker ps -a", "node --version", "python --version", "echo $PATH", "env | grep API_", "head -n 20 logs/app.log",
    "tail -n 50 logs/server.log", "cat package.json | jq .scripts", "sqlite3 data.db '.tables'",
    "mvn -q test", "./gradlew build", "bundle exec rspec", "rake db:migrate", "tox -e py311", "nox -s lint",
    "uv sync", "poetry install", "pre-commit run --all-files", "terraform plan", "kubectl get pods",
    "shellcheck scripts/*.sh", "hadolint Dockerfile", "mix test", "dotnet test", "swift build", "zig build test",
    "bash scripts/check.sh", "./scripts/release.sh --dry-run", "sed -n '1,20p' src/main.py", "sort -u names.txt",
    "curl -s localhost:8000/health", "openssl version", "jq '.version' package.json", "awk '{print $1}' access.log",
]

_BG_COMMANDS = [
    "npm run dev", "npm start", "yarn dev", "python -m http.server 8000", "python -m http.server 9000",
    "cargo watch -x test", "pytest --looponfail", "docker compose up", "tail -f logs/app.log",
    "make watch", "uvicorn app.main:app --reload", "flask run --port 5001", "npm run build -- --watch",
    "go run ./cmd/server", "python train.py --epochs 10", "celery -A tasks worker", "redis-server",
    "jupyter lab --no-browser", "hugo server -D", "vite --port 3000", "webpack --watch", "ng serve",
    "python -m pytest -n 4", "cargo run --release", "rails server -p 4000", "node server.js",
    "ping -c 20 localhost", "sleep 30 && echo done", "npm run e2e", "make bench", "python scripts/crawl.py",
    "deno task dev", "bun run dev", "ollama serve", "mkdocs serve", "gunicorn app:app -w 2",
    "python -m unittest discover -v", "./gradlew bootRun", "dotnet watch run", "npm run storybook",
]

_SINGLE_LINE = [
    "Hello, world!", "print(\"hi\")", "DEBUG=true", "version = \"1.2.3\"", "It's done — ✅", "Grüße aus München",
    "name: \"demo\"", "TODO: fix the «parser» edge cases", "export PATH=\"$HOME/bin:$PATH\"",
    "SELECT * FROM users WHERE name = 'Ana';", "console.log('ready');", "café, naïve, résumé", "日本語のテキスト",
    "MAX_RETRIES = 5", "PORT=8080", "node_modules/", "*.pyc", "# Project notes", "fn main() { println!(\"hi\"); }",
    "{\"enabled\": true, \"level\": 3}", "Ça marche très bien", "Temperature: 21°C",
    "API_URL=https://api.example.com/v1",
    "print('tab\\tseparated')", "LOG_LEVEL=warning", "Привет, мир", "Price: 9.99 €", "web: gunicorn app:app",
    "3.12", "dist/", "α + β = γ", "echo \"build finished\"", "return a if a > b else b", "<h1>Welcome</h1>",
    "TIMEOUT_SECONDS=30", "Don't panic.", "x = [1, 2, 3]", "# -*- coding: utf-8 -*-", "SECRET_KEY=change-me",
    "Done: 100%",
]

_MULTI_LINE = [
    "def add(a, b):\n    return a + b",
    "def greet(name):\n    print(f\"Hello, {name}!\")",
    "import os\n\nprint(os.getcwd())",
    "[tool.ruff]\nline-length = 100",
    "[package]\nname = \"demo\"\nversion = \"0.1.0\"",
    "node_modules/\ndist/\n.env",
    "__pycache__/\n*.pyc\n.venv/",
    "# Demo\n\nA small demo project.",
    "# TODO\n\n- [ ] add tests\n- [ ] write docs",
    "{\n  \"name\": \"web\",\n  \"private\": true\n}",
    "{\n  \"compilerOptions\": {\n    \"strict\": true\n  }\n}",
    "#!/bin/sh\nset -e\necho \"deploying…\"",
    "FROM python:3.12-slim\nCOPY . /app\nCMD [\"python\", \"/app/main.py\"]",
    "export const add = (a: number, b: number) => a + b;\nexport default add;",
    "server:\n  port: 8080\n  host: \"0.0.0.0\"",
    "name: CI\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest",
    "class User:\n    def __init__(self, name):\n        self.name = name",
    "fn main() {\n    println!(\"Hello, world!\");\n}",
    "package main\n\nfunc main() {}",
    "SELECT id, name\nFROM users\nWHERE active = 1;",
    "Line one\nLine two\nLine three",
    "Grüße,\ndas Team ☕",
    "def test_add():\n    assert add(2, 3) == 5",
    "all:\n\tgo build ./...\n\ntest:\n\tgo test ./...",
    "requests==2.32.3\nflask>=3.0",
    "## Changelog\n\n- Fixed the \"empty input\" crash",
    "DATABASE_URL=postgres://localhost/dev\nREDIS_URL=redis://localhost:6379",
    "const msg = 'it\\'s ready';\nconsole.log(msg);",
    "if __name__ == \"__main__\":\n    main()",
    "<ul>\n  <li>Home</li>\n  <li>About</li>\n</ul>",
    "Q: Why?\nA: Because — it works.",
    "try:\n    run()\nexcept ValueError as exc:\n    print(exc)",
    "x = 1\ny = 2\nprint(x + y)",
    "version: 2\nupdates:\n  - package-ecosystem: pip",
    "# Notes\nMeeting moved to 14:00 📅",
    "let total = items\n  .iter()\n  .sum::<u32>();",
    "@app.get(\"/health\")\ndef health():\n    return {\"ok\": True}",
    "body {\n  margin: 0;\n  font-family: sans-serif;\n}",
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web",
    "- name: Install\n  run: pip install -e .",
]


# Other shapes of paths and terminal ids people and tools produce (dotfiles, deep nesting, dashes,
# short and hex ids), so the model copies what it is given rather than one pattern.
_MORE_PATHS = [
    ".github/workflows/release.yml", ".vscode/settings.json", ".eslintrc.json", ".prettierrc", ".dockerignore",
    "config/nginx/site.conf", "deploy/helm/values-prod.yaml", "src/components/user-profile/Avatar.tsx",
    "docs/adr/0003-use-postgres.md", "scripts/db/migrate_2024_01.sql", "tests/fixtures/sample-input.csv",
    "packages/api-client/src/index.ts", "internal/http/middleware/auth_test.go", "src/main/java/com/acme/App.java",
    "app/models/user.rb", "lib/utils/string_helpers.ex", "notebooks/exploration.ipynb", "data/raw/events.jsonl",
    "web/public/robots.txt", "infra/main.tf", "src/styles/theme.scss", "templates/email/welcome.html",
    "src/lib.rs", "CMakeLists.txt", "setup.cfg", "tox.ini", "requirements-dev.txt", "pnpm-workspace.yaml",
    "config/locales/de.yml", "bin/run", "src/server/routes/v1/users.py", "e2e/specs/login.spec.ts",
    "k8s/base/kustomization.yaml", "src/App.vue", "android/app/build.gradle", "ios/Podfile", "Gemfile",
    "src/db/schema.prisma", "src/__tests__/parser.test.js", "server/.env.local", "etc/crontab.txt",
]


def _more_tids() -> list[str]:
    out = [f"{p}{i}" for p in ("t", "job-", "shell-", "tty", "term_", "proc-", "run-", "session-", "bash-", "T")
           for i in range(1, 40)]
    return out + [hashlib.md5(f"tid{i}".encode()).hexdigest()[:6] for i in range(120)]


def is_heldout(value: str) -> bool:
    """Stable assignment of a value to the held-out side (about one in four)."""
    return hashlib.md5(value.encode("utf-8")).digest()[0] % 4 == 0


def _split(values: list[str]) -> dict[str, list[str]]:
    uniq = list(dict.fromkeys(values))
    return {
        "train": [v for v in uniq if not is_heldout(v)],
        "heldout": [v for v in uniq if is_heldout(v)],
    }


@cache
def pools() -> dict[str, dict[str, list[str]]]:
    paths = [f"{d}/{n}.{ext}".removeprefix("./")
             for ext, (dirs, names) in _PATHS.items() for d, n in product(dirs, names)]
    paths += _BARE_FILES + _MORE_PATHS
    tids = [f"term-{i}" for i in range(1, 200)] + [f"bg-{i}" for i in range(1, 60)] + _more_tids()
    single, multi = generated_bodies()
    return {
        "path": _split(paths),
        "cwd": _split(_DIRS),
        "cmd": _split(_COMMANDS),
        "bg_cmd": _split(_BG_COMMANDS),
        "tid": _split(tids),
        "line": _split(_SINGLE_LINE + single),
        "multiline": _split(_MULTI_LINE + multi),
    }
