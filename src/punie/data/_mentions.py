"""Composed no-call mentions: a question *about* a command, file or terminal that asks for no action.

Why composed: the fixed mention sentences of ``_grammar.MENTIONS`` (~90 on the train side) were the
narrowest family of the generator, and at the demo's size most no-call errors were exactly these: a
call on a question that only *names* a file or a command (docs/tuning.md, session 8). Here a mention is
an opener × a topic × a closer; each topic is a (question, answer) pair about one kind of slot
({cmd}, {cmd2}, {path}, {tid}; {explain} is the command family's description). Several topics sit
right next to a tool ("how do I kill X myself if it hangs?", "does releasing X stop it?"): the
near-miss contrast that teaches the verb *and* the intent, not the verb alone.

Every list is split into train and held-out families by the grammar's stable hash, so held-out
mentions use topics, openers and closers that training never shows.
"""

from __future__ import annotations

# Openers end in ": " / ". " (the topic is capitalised) or in a word (the topic continues in lower case).
OPENERS = [
    "", "", "", "", "Quick question: ", "Just curious, ", "Out of curiosity, ", "General question: ",
    "Not asking you to do anything, but ", "Hypothetically, ", "Purely theoretical: ", "Random thought: ",
    "I've been wondering: ", "Help me understand something: ", "For my notes, ", "In your experience, ",
    "Serious question: ", "No action needed, just tell me: ", "Conceptually, ", "One thing I never got: ",
    "Don't do anything yet. ", "Just a question, no changes: ", "Theory question: ", "Before I decide: ",
    "While I think about it, ", "Explain something to me: ", "Honest opinion: ", "Can you explain: ",
    "I'm writing docs and wondered: ", "Asking before I touch anything: ", "Curious, ",
    # session 9: "don't act" said up front (held-out suites negate the action the way people do)
    "Without touching anything, ", "Don't open it, but ", "No need to open anything: ",
    "Leave the files alone for now. ", "Don't execute anything. ", "Hands off for a second: ",
    "Without looking at it, ", "Before you run anything, tell me: ", "Nothing to run here: ",
    "Don't act on this, just answer: ",
]
CLOSERS = [
    "", "", "", "", " Just asking.", " No need to run anything.", " Don't change anything.", " I'm only curious.",
    " Just explain, please.", " (no action needed)", " Talk me through it.", " In general terms.", " Keep it short.",
    " Don't run it, I just want to understand.", " No need to look at anything.", " Just the idea is fine.",
    " I'll do it myself later.", " Asking for the docs.", " Don't open it.", " Don't run it.",
    " Please don't execute it.", " No need to open the file.", " Leave it as it is.",
]

# (question, answer); a question ends in "?" and is written to continue an opener in lower case.
TOPICS: list[tuple[str, str]] = [
    # ---- commands
    ("what exactly does {cmd} do?", "{explain} Tell me if you want me to run it."),
    ("does {cmd} change any files, or does it only read?",
     "It depends on its flags: checks, listings and tests only read, while formatters, installers and builds write. "
     "{explain}"),
    ("is {cmd} usually slow on a big project?",
     "It grows with the size of the project; caches and running it on fewer files keep it fast."),
    ("why might {cmd} hang forever?",
     "Common reasons are waiting for input, a network call that never returns, a lock held by another process or a "
     "test that deadlocks. Running it with a timeout shows which."),
    ("what exit code does {cmd} give when something fails?",
     "A non-zero one, usually 1; 0 means success. Some tools use other codes for specific errors."),
    ("how would I run {cmd} only on the files I changed?",
     "Pass the changed files to it, for example from `git diff --name-only`, if the tool accepts file arguments."),
    ("should {cmd} be part of the pre-commit hook?",
     "If it's fast and catches real problems (lint, format, quick tests), yes; slow suites belong in CI."),
    ("where does {cmd} write its output?",
     "To the terminal (stdout and stderr) unless it's redirected or the tool writes report files of its own."),
    ("is {cmd} the same thing as {cmd2}?",
     "No, they run different programs; the first word of each names the tool and the rest are its arguments."),
    ("which should run first in CI, {cmd} or {cmd2}?",
     "Put the fastest check first so a cheap failure stops the pipeline early; slower ones follow."),
    ("would you pick {cmd} or {cmd2} for a quick sanity check?",
     "The faster one: a sanity check should take seconds. I can run either if you want to compare."),
    ("how do I stop {cmd} from printing colours?",
     "Most tools honour `NO_COLOR=1` or a `--no-color` / `--color=never` flag."),
    ("is it normal for {cmd} to take a whole minute?",
     "On a large project it can be; a sudden slowdown usually means a cold cache or a new slow test."),
    ("can {cmd} break my local setup?",
     "Read-only commands can't; anything that installs, deletes or migrates can, so read what it does first."),
    ("do I have to be in the project root to use {cmd}?",
     "Most project tools look for their config from the current folder upward, so the root is the safe place."),
    ("what's the shell syntax for sending {cmd} to the background myself?",
     "In a shell, add `&` at the end (or use `nohup` so it survives the shell closing), then `jobs` lists it."),
    ("how do I kill {cmd} myself if it hangs?",
     "Press Ctrl-C in its terminal; from another shell, find its PID with `ps` and send `kill PID`."),
    ("how would I write {cmd} as a Makefile target?",
     "Add a target name, a colon, then the command on the next line indented with a tab."),
    ("why would {cmd} need network access?",
     "To download dependencies, plugins or data; offline it needs them cached beforehand."),
    ("what's a common mistake people make with {cmd}?",
     "Running it from the wrong folder or with a stale environment, then trusting an outdated result."),
    ("can {cmd} and {cmd2} run at the same time safely?",
     "Yes, unless both write the same files or caches; read-only checks can run side by side."),
    ("what does a warning from {cmd} usually mean?",
     "Something works now but may break later, or a setting is deprecated; it's worth reading, not fatal."),
    ("is {cmd} deterministic?",
     "It should be for the same inputs; flaky results usually come from time, randomness, network or test order."),
    # ---- files
    ("what is {path} usually for?",
     "Its folder says which part of the project it belongs to and its extension which language or format it is."),
    ("is {path} something a tool generates, or is it written by hand?",
     "Generated files are usually listed in `.gitignore` and rebuilt by a command; if it's tracked and edited in "
     "reviews, it's hand-written."),
    ("does {path} belong in version control?",
     "Source, config and docs do; generated files, secrets and local settings don't."),
    ("how big can a file like {path} get before I should split it?",
     "There is no hard limit; split when one file holds several unrelated responsibilities or gets hard to review."),
    ("how do I read {path} from a Python script?",
     "`Path(\"...\").read_text()` from `pathlib` reads it in one call; `open()` in a `with` block also works."),
    ("how would I append a line to {path} from a shell script?",
     "`echo \"text\" >> file` appends; a single `>` would overwrite the file."),
    ("what encoding should {path} be saved in?", "UTF-8, unless a tool that reads it demands something else."),
    ("can two processes write to {path} at the same time?",
     "They can, but the writes may interleave or clobber each other; use a lock or write to a temp file and rename."),
    ("what permissions should a file like {path} have?",
     "Normally readable and writable by you and readable by others (644); only scripts need the execute bit."),
    ("if I delete {path} by accident, can git bring it back?",
     "If it was committed, yes: `git restore <path>` brings back the last committed version."),
    ("should {path} have its own tests?",
     "If it holds logic, yes: a small test file next to it or under `tests/` keeps it honest."),
    ("is {path} a sensible place for shared constants?",
     "Constants used across modules fit best in one small, clearly named module that the others import."),
    ("would renaming {path} break imports?",
     "Anything that imports or references it by name would need updating; search the project for the old name."),
    ("what's a good commit message for a change to {path}?",
     "Name the change, not the file: a short imperative summary, then why it was needed."),
    ("why do projects keep files like {path} at that location?",
     "Conventions: tools find config and entry points where they expect them, and newcomers know where to look."),
    ("how do I find out who last changed {path}?",
     "`git log -1 -- <path>` shows the last commit that touched it, and `git blame` shows each line's author."),
    # ---- terminals
    ("what is a terminal id like {tid} actually for?",
     "It names a background terminal so later requests can check its output, wait for it, stop it or release it."),
            ("does {tid} keep its output after the process exits?",
     "Yes, until the terminal is released; after that its output is gone."),
    ("is it bad to leave {tid} running overnight?",
     "Not if it's meant to run long, like a server or watcher; it only uses resources while it's alive."),
    ("would killing {tid} lose what it printed?",
     "No, the output so far stays readable until the terminal is released."),
    ("how many terminals like {tid} can run at once?",
     "Several; each background command gets its own terminal id, limited only by the machine's resources."),
    ("why did {tid} get a random-looking name?", "Ids are generated so two background terminals never collide."),
    # ---- no slot: the tools themselves
    ("when is it better to run a command in the background?",
     "When it runs long (servers, watchers, big test suites) and you want to keep working while it goes."),
    ("what's the difference between killing a terminal and releasing it?",
     "Killing stops a running process; releasing frees a terminal whose process has finished."),
    ("how do you decide between reading a file and running a command to look at it?",
     "Reading shows the file's text exactly; a command helps when you need to search, filter or count."),
    # ---- what the assistant can do, asked in general ("can you ...?" with nothing to act on)
    ("are you able to edit files yourself?",
     "Yes: I can write a file in the project when you ask me to, and read any file you name."),
    ("do you have access to a shell?",
     "Yes, I can run commands in the project, in the foreground or in the background, when you ask me to."),
    ("could you stop a process if I asked you to?",
     "Yes: I can kill a background terminal's process, and release a terminal once it has finished."),
    ("what tools do you have?",
     "I can read and write files, run shell commands (also in the background), check or wait for a background "
     "terminal, and kill or release it."),
    ("can you wait for a long job to finish?",
     "Yes: I start it in the background and wait for its terminal to exit when you ask."),
    ("do you keep track of the terminals you started earlier?",
     "Yes, by their terminal ids; I can check, wait for, kill or release any of them when you ask."),
    ("is there a limit to how long a command can run for you?",
     "Short commands run to the end; anything long is better started in the background."),
    # ---- two commands compared, command options
    ("in what order would you put {cmd} and {cmd2} in a CI job?",
     "Cheapest and fastest first, so a quick failure stops the job early; the slower one after it."),
    ("does it matter whether {cmd} runs before {cmd2}?",
     "Only if one depends on the other's output, like a build before its tests; otherwise the order is free."),
    ("which is quicker, {cmd} or {cmd2}?",
     "It depends on the project, but checks that only read files are usually faster than builds or installs."),
    ("how do I make {cmd} quieter?", "Most tools take `-q` or `--quiet`, and output can go to a file."),
    ("is there a dry-run flag for {cmd}?",
     "Many tools have `--dry-run` or `-n`; `--help` lists what this one supports."),
    ("how do I get {cmd} to stop at the first error?",
     "Test runners usually take `-x` or `--fail-fast`; for a script, `set -e` stops at the first failing command."),
    ("how can I see the help text for {cmd}?", "Add `--help` (or `-h`); many tools also have a man page."),
    ("how do I pass extra arguments to {cmd}?",
     "Append them after the command; for npm-style scripts put `--` first so they reach the script."),
    ("what does it mean when {cmd} says permission denied?",
     "The user running it can't read, write or execute something it needs: check the file's permissions or owner."),
    # ---- files, in general
    ("what language is {path} written in, judging by its name?",
     "The extension says it: `.py` is Python, `.ts` TypeScript, `.rs` Rust, `.go` Go, `.md` Markdown, and so on."),
    ("should {path} be formatted by a tool?",
     "Yes, if the project has a formatter for its language: it keeps diffs small and reviews about content."),
]
