"""A compositional request grammar: how people ask for each of the 7 tools, and how they don't.

Why a grammar and not a list of sentences: with ~20 fixed templates per tool a small model learns
surface cues ("kick off" → one tool) instead of the request. Here a request is composed from
independent parts — preamble × wrapper ("can you … ?") × core (verb × object frame) × tail — with
quoting styles for every argument, casing/punctuation variants and a few typos, which gives
thousands of distinct phrasings per tool.

Held-out families: every part list is split by a stable hash into a train part and a held-out part
(the first ``ANCHORS`` entries of a list, the plainest phrasings, always stay in train). A held-out
request always uses a held-out *core* (verb or frame family the training data never shows) and only
held-out wrappers / preambles / tails, so ``test`` and ``punie-tools`` measure
generalisation to unseen ways of asking, not recall of seen ones.

Slot rules that keep the target exactly recoverable from the text: a value is quoted (backticks,
double or single quotes) or bare; a bare command only where it ends the sentence or is followed by
punctuation, never when it ends in punctuation itself; inline ``write_file`` content is always
quoted; a value is never quoted with a character it contains.
"""

from __future__ import annotations

import hashlib
import random
import re
from functools import cache
from typing import Any

from punie.data import _mentions

ANCHORS = 3
# Share of no-call mentions drawn from the composed topics of ``_mentions`` (the rest: ``MENTIONS``).
COMPOSED_MENTION_SHARE = 0.6
SIDES = ("train", "heldout")


def is_heldout_part(text: str) -> bool:
    """About one part in four goes to the held-out side (stable across runs and machines)."""
    return hashlib.md5(("grammar:" + text).encode("utf-8")).digest()[0] % 4 == 0


def split_parts(parts: list[str], anchors: int = ANCHORS) -> dict[str, list[str]]:
    uniq = list(dict.fromkeys(parts))
    head, rest = uniq[:anchors], uniq[anchors:]
    held = [p for p in rest if is_heldout_part(p)]
    return {"train": head + [p for p in rest if not is_heldout_part(p)], "heldout": held}


def split_pairs(pairs: list[tuple[str, str]], side: str) -> list[tuple[str, str]]:
    """(question, answer) pairs on one side, by the question's hash (no anchors: every pair is a family)."""
    return [p for p in pairs if is_heldout_part(p[0]) == (side == "heldout")]


# ---- sentence parts shared by all intents ----------------------------------------------------------
# {c} is the core; a wrapper ending in "?" makes a question.
WRAPPERS = [
    "{c}", "Please {c}", "{c} please", "Can you {c}?", "Could you {c}?", "Could you please {c}?",
    "Would you {c}?", "Can you please {c}?", "I need you to {c}", "I'd like you to {c}", "Go ahead and {c}",
    "Let's {c}", "Kindly {c}", "Just {c}", "Now {c}", "Next, {c}", "First, {c}", "I want you to {c}",
    "Will you {c}?", "pls {c}", "Do me a favour and {c}", "Would you be able to {c}?", "Think you could {c}?",
    "Can we {c}?", "We need to {c}", "Time to {c}", "Could you quickly {c}?", "Mind if I ask you to {c}?",
    "Help me out and {c}", "You can {c} now", "Quickly {c}", "Try to {c}",
    "Would it be possible to {c}?", "Be a star and {c}", "I'd appreciate it if you could {c}",
    "When you have a sec, {c}", "Right now, {c}", "Okay, {c}", "Could you go ahead and {c}?",
]
PREAMBLES = [
    "", "", "", "", "Hey, ", "Hi! ", "Ok, ", "Okay so ", "Quick one: ", "Alright. ", "Hmm. ", "Sorry to bother you, ",
    "One more thing: ", "Next step: ", "Right, ", "So, ", "Yo, ", "Good morning! ", "Thanks for earlier. ",
    "I'm debugging a failing test. ", "The build broke after my last commit. ", "I think something is off. ",
    "We're about to ship. ", "My colleague changed a few things. ", "I'm new to this repo. ", "CI is red again. ",
    "Following up on the bug report: ", "Just pulled the latest main. ", "Before I forget, ", "Hello again. ",
    "Ugh, this again. ", "Small request: ", "OK next: ", "Cool. ", "Great, thanks. Now ", "Hi there, ",
    "Let me think... ok. ", "Morning. ", "For the release notes, ", "While you're at it, ", "btw ",
    "I have a meeting in 5 minutes. ", "Something weird is going on. ", "Step two: ",
]
# inline tails go right after the core (before a final "?"); sentence tails after the sentence
INLINE_TAILS = [
    "", "", "", "", " for me", " real quick", " when you get a chance", " if you can", " now", " asap",
    " right away", " quickly", " for a sec", " when you have a moment", " if that's ok", " please",
]
SENTENCE_TAILS = [
    "", "", "", "", "", " Thanks!", " Thank you.", " Cheers.", " Thanks in advance.", " Appreciate it.",
    " I want to check something.", " No rush.", " 🙏", " ty", " Much appreciated!", " That would help a lot.",
    " Then we'll see.", " Let me know what you find.", " Thx.", " Danke!",
]

# Two requests in one sentence. Sequential connectors mean "one after the other" (the second call
# comes after the first one's result, in the order the sentence gives, which is not always the order
# of the words: "{b}, but {a} first"); parallel ones mean "both, independently" (one turn, two calls).
SEQ_CONNECTORS = [
    "{a}, then {b}", "{a} and then {b}", "first {a}, then {b}", "{a}; after that, {b}", "{a}. Then {b}",
    "{a}, and once that's done, {b}", "{a}. When that's finished, {b}", "{a}, afterwards {b}",
    "{a} and after that {b}", "{a}, and when it's done {b}", "once you {a}, {b}", "after you {a}, {b}",
    "{b}, but {a} first", "before you {b}, {a}", "{b} — but first {a}", "{a}. Next, {b}",
    "step 1: {a}. step 2: {b}", "{a}, then go ahead and {b}", "{a}. After it's done, {b}",
    "{a} and, once it's finished, {b}", "start by doing this: {a}. Then {b}", "{a}, and right after that {b}",
    "{a}, wait for the result, then {b}", "{b}, after you {a}",
    # session 9: more ways to say "one after the other" (held-out multi-step cases were answered after
    # the first result: the second call was never made)
    "{a}, and after you've done that, {b}", "{a}, and next {b}", "{a}; when it finishes, {b}", "{a}, followed by {b}",
    "{a}, and once it's through, {b}", "{a}. Once you have that, {b}", "{a}, then, when it's complete, {b}",
    "{a} first and {b} second", "{a}; then {b}", "do two things in order: {a}, then {b}",
]
PAR_CONNECTORS = [
    "{a} and {b}", "{a} and also {b}", "{a}, and {b}", "{a}, plus {b}", "{a} and {b} too", "{a}; also {b}",
    "{a}. Also, {b}", "{a} and at the same time {b}", "{a}, and while you're at it, {b}", "{a}. And {b}",
    "{a}, and in parallel {b}", "{a} — and {b} as well", "two things: {a}, and {b}", "{a}, also {b}",
]
# slot name -> the kind of value it holds (for quoting): pairs use {a}/{b}, {src}/{dst}, {t1}/{t2}
SLOT_KIND = {"a": "path", "b": "path", "src": "path", "dst": "path", "t1": "tid", "t2": "tid"}

# ---- intents ----------------------------------------------------------------------------------------
# Each intent has ``verbs`` × ``objects`` cores (an object frame holds the slot), ``cores`` that are
# whole verb phrases (wrapped like the composed ones) and ``questions`` that are complete sentences.
INTENTS: dict[str, dict[str, list[str]]] = {
    "read": {
        "verbs": ["show me", "open", "read", "display", "print", "cat", "pull up", "bring up", "load", "view",
                  "look at", "take a look at", "have a look at", "check", "check out", "inspect", "dump",
                  "fetch", "output", "grab", "give me", "let me see", "get me", "go through", "peek at",
                  "examine", "review", "read out", "preview", "open up", "show", "look inside", "skim",
                  "read through", "scan", "paste", "type out", "spit out", "reveal", "walk me through"],
        "objects": ["{path}", "the file {path}", "the contents of {path}", "file {path}", "{path} for me",
                    "what's in {path}", "whatever is in {path}", "the current {path}", "what {path} says",
                    "the text of {path}", "{path} in full", "everything in {path}"],
        "cores": ["tell me what's in {path}", "tell me what {path} contains", "find out what {path} says",
                  "see what's inside {path}", "show me what {path} looks like", "print out {path}",
                  "get the contents of {path}", "look into {path}", "open {path} and show me",
                  "read {path} and tell me what it does", "show me the source of {path}",
                  "let me see the code in {path}", "display the file at {path}", "fetch me {path}"],
        "questions": ["What's in {path}?", "What does {path} contain?", "What does {path} say?",
                      "What's inside {path}?", "How does {path} look?", "What is in {path}", "Contents of {path}?",
                      "Can I see {path}?", "Can I get a look at {path}?", "What's written in {path}?",
                      "What does {path} look like right now?", "Is there anything in {path}?",
                      "{path} — what's in it?", "Mind showing me {path}?", "What's {path} got in it?",
                      "Could I have a look at {path}?", "What does the file {path} have in it?",
                      "Where's {path}? Show me", "Got a minute to show me {path}?", "{path}: what does it say?"],
    },
    "write_inline": {
        "cores": ["write {content} to {path}", "put {content} in {path}", "save {content} to {path}",
                  "set {path} to {content}", "make {path} say {content}", "make {path} contain {content}",
                  "fill {path} with {content}", "overwrite {path} with {content}",
                  "replace the contents of {path} with {content}", "create {path} with {content}",
                  "create {path} containing {content}", "store {content} in {path}", "dump {content} into {path}",
                  "add a file {path} with {content}", "change {path} so it says {content}",
                  "update {path} to say {content}", "stick {content} in {path}", "write the text {content} into {path}",
                  "type {content} into {path}", "make {path} hold just {content}",
                  "write {path} with the line {content}",
                  "save the line {content} as {path}", "put the text {content} into a file called {path}",
                  "create a file named {path} that says {content}", "set the contents of {path} to {content}",
                  "write out {content} to {path}", "save {content} in a new file {path}", "place {content} in {path}",
                  "write {content} into {path}", "make a file {path} with {content} in it",
                  "rewrite {path} as {content}", "persist {content} to {path}", "record {content} in {path}",
                  "jot {content} down in {path}", "drop {content} into {path}",
                  "write just {content} into {path}", "make the whole of {path} be {content}",
                  "change the contents of {path} to {content}", "set the text of {path} to {content}",
                  "have {path} contain only {content}", "swap what's in {path} for {content}",
                  "write a file {path} whose content is {content}", "put exactly {content} into {path}"],
        "questions": ["Can {path} just say {content}?", "Could {path} contain {content} instead?",
                      "{path} should say {content}. Can you do that?", "Would you write {content} to {path}?",
                      "{path} needs to contain {content}, can you write it?",
                      "How about writing {content} to {path}?"],
    },
    "write_block": {
        "cores": ["write this to {path}", "save the following as {path}", "create {path} with this content",
                  "put this in {path}", "replace {path} with the code below", "make {path} look like this",
                  "overwrite {path} with this", "write the following into {path}", "store this in {path}",
                  "create the file {path} with these contents", "save this snippet to {path}",
                  "fill {path} with the following", "write out {path} like this", "set {path} to exactly this",
                  "put the code below into {path}", "use this as the new {path}", "save the text below as {path}",
                  "drop this into {path}", "update {path} to the following", "create a new file {path} containing this",
                  "write these lines to {path}", "commit this text to {path}", "replace what's in {path} with this",
                  "save this as the new {path}", "paste the following into {path}", "write {path} with the text below",
                  "create {path} from this snippet", "make {path} exactly the following",
                  "swap {path} out for this version", "use the block below as the contents of {path}",
                  "write this code into {path}", "put the following lines into {path}"],
        "questions": ["Here's the new version of {path}, can you write it?", "{path} should contain this:",
                      "Can you save this as {path}?", "This goes in {path}, please write it:",
                      "New contents for {path}:", "Could you create {path} with the following?",
                      "{path} must look like this — write it?"],
    },
    "run": {
        "verbs": ["run", "execute", "kick off", "fire off", "try", "invoke", "do a", "trigger", "exec",
                  "rerun", "issue", "perform", "try out", "test with", "run the shell command", "go ahead with"],
        "objects": ["{cmd}", "the command {cmd}", "this command: {cmd}", "{cmd} in the shell", "{cmd} in the terminal",
                    "{cmd} for me", "the following: {cmd}", "{cmd} once", "{cmd} again", "just {cmd}"],
        "cores": ["see what {cmd} prints", "show me the output of {cmd}", "tell me what {cmd} returns",
                  "check what {cmd} says", "let me see what {cmd} outputs", "give {cmd} a go", "give {cmd} a spin",
                  "use the shell to run {cmd}", "run {cmd} and tell me what happens", "run {cmd} and report back",
                  "execute {cmd} and show me the result", "find out what {cmd} gives", "see if {cmd} passes",
                  "check whether {cmd} works", "run {cmd} and paste the output", "enter {cmd} in the shell",
                  "do {cmd} real quick", "get me the output of {cmd}", "run {cmd} to check"],
        "questions": ["What does {cmd} print?", "What do we get from {cmd}?", "Does {cmd} pass right now?",
                      "What's the output of {cmd}?", "Can I see what {cmd} gives?", "{cmd} — what does it say?",
                      "How about running {cmd}?", "Does {cmd} still work?", "What happens if you run {cmd}?",
                      "Would {cmd} succeed now? Try it", "Any chance you could run {cmd}?"],
    },
    "run_cwd": {  # {r} is a run core with {cmd}; {cwd} the working directory
        "frames": ["{r} in {cwd}", "{r} from {cwd}", "{r} inside {cwd}", "{r} with {cwd} as the working directory",
                   "in {cwd}, {r}", "from the {cwd} folder, {r}", "inside the {cwd} directory, {r}",
                   "switch to {cwd} and {r}", "go to {cwd} and {r}", "cd into {cwd} and {r}",
                   "{r} with the cwd set to {cwd}", "{r} (cwd {cwd})", "{r} from within {cwd}",
                   "{r} in the {cwd} directory", "{r} in the {cwd} folder", "using {cwd} as the cwd, {r}",
                   "from {cwd}, {r}", "{r} over in {cwd}", "hop into {cwd} and {r}", "{r}, working dir {cwd}",
                   "within {cwd}, {r}", "{r} under {cwd}", "{r} (in {cwd})", "over in {cwd}, {r}",
                   "{r} at {cwd}", "{r} relative to {cwd}", "in the {cwd} subfolder, {r}", "{r} from the {cwd} dir",
                   "{r} within the {cwd} project", "{r} in the {cwd} package", "{r}, run it inside {cwd}",
                   "{r} — working directory: {cwd}", "{r}, but from {cwd}", "head over to {cwd} and {r}",
                   "{r} with {cwd} as cwd", "enter {cwd} and {r}", "{r} in the {cwd} subdirectory"],
    },
    "run_bg": {  # {r} is a run core with {cmd}
        "frames": ["{r} in the background", "{r} as a background job", "{r} as a background process",
                   "{r} as a background task", "{r} in a background terminal", "{r} and leave it running",
                   "{r} without waiting for it", "{r} in the background so we can keep working",
                   "{r} detached", "{r} in the background and give me the terminal id", "{r} and don't wait for it",
                   "{r} in the background, it takes a while", "{r} asynchronously", "{r} and let it run",
                   "{r} in the bg", "{r} and keep it running in the background", "{r} as a long-running job",
                   "{r} in the background while we do other stuff",
                   # session 9: what "background" means, in other words (a server, no blocking, its own terminal)
                   "{r} and keep it alive", "{r} as a daemon", "{r} in a separate terminal", "{r} without blocking",
                   "{r} and return right away", "{r} and don't block on it", "{r}, it's a server so it won't exit",
                   "{r} — it runs until we stop it", "{r}, it never finishes by itself", "{r} as a service",
                   "{r} and let it keep going", "{r} and hand me back the terminal", "{r} off to the side",
                   "{r} so it runs on its own", "{r} but don't sit and wait on it",
                   "{r} as a watcher that keeps running"],
        "cores": ["background {cmd}", "start {cmd} in the background", "spin up {cmd} in the background",
                  "get {cmd} going in the background", "put {cmd} in the background", "leave {cmd} running",
                  "keep {cmd} running in the background", "start up {cmd} and leave it running",
                  "launch {cmd} in the background", "start {cmd} and keep it alive", "kick {cmd} off without waiting",
                  "have {cmd} run in its own terminal", "get {cmd} started and come back to me",
                  "boot {cmd} up in the background", "leave {cmd} going in a background terminal"],
    },
    "get_output": {
        "verbs": ["show me the output of", "check the output of", "get the output of", "fetch the output of",
                  "grab the output from", "read the output of", "peek at", "check on", "look at the output of",
                  "show me what's been printed by", "pull the latest output from", "print the output of",
                  "show the progress of", "give me the current output of", "display what's been logged by",
                  "tell me what's been printed by", "look in on", "poll", "show me the logs so far from",
                  "see what has come out of", "check in on", "get me the log so far of", "tail", "show the log of",
                  "read what's new in", "give me a status update on", "glance at", "take a peek at the output of",
                  "report the progress of", "show me the current log of",
                  # session 11: short verbs (held-out "tail X", "poll X" were read as a command to run)
                  "watch", "monitor", "eyeball", "check up on", "keep an eye on", "view the output of",
                  "skim the output of", "scan the log of", "check the log of", "inspect the output of",
                  "follow the output of", "see the output of", "read the log of", "have a look at the output of",
                  "check the progress of", "look over the log of"],
        "objects": ["{tid}", "terminal {tid}", "the terminal {tid}", "the job in {tid}", "background job {tid}",
                    "the process in {tid}", "the background terminal {tid}", "{tid} so far",
                    "{tid} without stopping it", "{tid} but leave it running", "{tid}, don't kill it",
                    "{tid} while it keeps going", "the running job {tid}"],
        "cores": ["see what {tid} has printed so far", "check how {tid} is doing", "tell me what {tid} says right now",
                  "show me what {tid} has output until now", "find out how far along {tid} is",
                  "look at {tid} and tell me what it printed", "check if {tid} has printed anything",
                  "let me see {tid}'s output", "check {tid}'s output so far"],
        "questions": ["What has {tid} printed so far?", "How is {tid} doing?", "What's {tid} saying?",
                      "Any output from {tid}?", "What's the latest from {tid}?", "What's happening in {tid}?",
                      "Is {tid} producing anything?", "How far along is {tid}?", "What does {tid} show right now?",
                      "Anything new in {tid}?", "What has terminal {tid} written so far?",
                      "Has {tid} printed anything yet?", "Where is {tid} at?", "Any progress on {tid}?",
                      "What's {tid} up to?", "Can I see what {tid} has so far?"],
    },
    "wait": {
        "verbs": ["wait for", "wait on", "block on", "wait until the end of", "await", "hang on for",
                  "sit tight for", "hold on for", "stick around for", "wait out", "stay on", "wait patiently for",
                  "hold off until the end of", "wait around for", "stay blocked on", "keep waiting on",
                  "be patient with", "wait to the end of", "monitor until exit",
                  # session 11: more ways to say "until it ends" (held-out waits were read as get or kill)
                  "stand by for", "hold for", "hang around for", "stay with", "wait it out with", "pause for",
                  "wait for the end of", "stay put for", "wait until completion of", "linger on"],
        "objects": ["{tid}", "terminal {tid}", "{tid} to finish", "{tid} to exit", "{tid} to complete",
                    "terminal {tid} to finish", "the job in {tid} to finish", "the process in {tid} to end",
                    "{tid} to be done", "{tid} and give me its exit code", "{tid} and show me the final output"],
        "cores": ["wait until {tid} is done", "wait until {tid} exits", "block until {tid} finishes",
                  "let {tid} finish and tell me the result", "hold on until {tid} exits",
                  "don't do anything else until {tid} is done", "tell me when {tid} is finished",
                  "wait till {tid} has exited", "let me know once {tid} completes", "stay on {tid} until it exits",
                  "wait for {tid} to wrap up", "give me {tid}'s final result once it finishes",
                  "keep waiting until {tid} ends", "report back when {tid} is finished",
                  "let {tid} run to completion and show me the output",
                  "ping me when {tid} is done", "notify me when {tid} exits", "let me know when {tid} finishes",
                  "tell me the moment {tid} ends", "tell me once {tid} is through",
                  "wait and tell me when {tid} completes", "don't stop {tid}, just wait for it",
                  "wait for {tid}, don't kill it"],
        "questions": ["What's the exit code of {tid} once it's done?", "When {tid} finishes, what did it print?",
                      "Can you wait until {tid} is finished?", "How did {tid} end? Wait for it if it's still going",
                      "Will you let me know when {tid} exits?", "Could we wait for {tid} to finish?",
                      "Is {tid} done? Wait for it and tell me the exit code"],
    },
    "kill": {
        "verbs": ["kill", "stop", "terminate", "abort", "shut down", "cancel", "end", "halt", "interrupt",
                  "force-stop", "nuke", "kill off", "put an end to", "bring down", "take down", "cut off",
                  "shut off", "stop running", "force quit", "close down", "hard-stop", "scrap", "quit",
                  "ctrl-c", "break off", "put a stop to", "cut short", "knock out", "SIGTERM", "stop and kill",
                  "pull the plug on", "call off"],
        "objects": ["{tid}", "terminal {tid}", "the process in {tid}", "the job in {tid}",
                    "whatever is running in {tid}",
                    "the command running in {tid}", "{tid} now", "{tid} immediately", "the background job {tid}"],
        "cores": ["send ctrl-c to {tid}", "make {tid} stop", "stop the server in {tid}",
                  "kill the server running in {tid}",
                  "stop {tid}, it's hanging", "stop {tid} before it eats all the memory"],
        "questions": ["{tid} is stuck, can you kill it?", "{tid} is hanging. Stop it?", "Can you make {tid} stop?",
                      "{tid} has been running forever, can you kill it?", "Could you stop whatever {tid} is doing?",
                      "{tid} is spamming errors — kill it?", "{tid} won't stop on its own; stop it for me?",
                      "Can we shut {tid} down?", "{tid} froze. Kill it please?"],
    },
    "release": {
        "verbs": ["release", "free", "free up", "clean up", "let go of", "drop", "dispose of", "discard",
                  "forget", "tidy up", "give back", "deallocate", "unregister", "recycle", "retire",
                  "throw away", "clear out", "get rid of", "hand back", "release the handle of", "dismiss",
                  "let go", "free the id of", "deregister", "clean out", "wrap up", "say goodbye to"],
        "objects": ["{tid}", "terminal {tid}", "the terminal {tid}", "the finished terminal {tid}", "{tid} now",
                    "the id {tid}", "{tid}, we're done with it", "{tid}, it has finished", "terminal {tid} for good"],
        "cores": ["we're done with {tid}, release it", "release {tid} now that it's finished",
                  "free the terminal id {tid}", "let {tid} go, it's finished", "clean up after {tid}, it's done",
                  "release {tid}, we don't need its output anymore", "free the slot used by {tid}"],
        "questions": ["{tid} has finished, can you release it?", "{tid} is done, could you free it?",
                      "Can we release {tid} now?", "We don't need {tid} anymore; can you let it go?",
                      "{tid} exited already. Free it up?", "Could you clean up {tid}? It's finished.",
                      "Done with {tid} — release it?"],
    },
    "copy": {
        "verbs": ["copy", "duplicate", "clone", "back up", "mirror", "replicate", "cp", "make a copy of"],
        "objects": ["{src} to {dst}", "{src} into {dst}", "{src} over to {dst}", "{src} as {dst}",
                    "the file {src} to {dst}", "the contents of {src} into {dst}", "{src} -> {dst}",
                    "{src} to a new file {dst}"],
        "cores": ["make {dst} identical to {src}", "make {dst} a copy of {src}", "create {dst} as a copy of {src}",
                  "put a copy of {src} at {dst}", "save a copy of {src} as {dst}",
                  "read {src} and write the same content to {dst}", "take what's in {src} and put it in {dst}",
                  "make a backup of {src} called {dst}", "give {dst} the same contents as {src}",
                  "copy over {src} to {dst}", "write the contents of {src} into {dst}"],
        "questions": ["Can you copy {src} to {dst}?", "Could {dst} be a copy of {src}?",
                      "Would you duplicate {src} as {dst}?", "Can I get a copy of {src} at {dst}?"],
    },
    "read_two": {
        "verbs": ["show me", "open", "read", "display", "print", "pull up", "look at", "check", "cat", "view",
                  "bring up", "give me", "fetch", "compare", "inspect", "dump"],
        "objects": ["{a} and {b}", "both {a} and {b}", "{a} as well as {b}", "{a} plus {b}", "{a} and also {b}",
                    "{a} together with {b}", "the files {a} and {b}", "{a}, and {b} too", "{a} along with {b}",
                    "{a} & {b}"],
        "cores": ["show me what's in {a} and {b}", "open {a} and {b} side by side", "read both {a} and {b}",
                  "I need to compare {a} with {b}; open both", "let me see {a} and {b}"],
        "questions": ["What's in {a} and {b}?", "Can I see {a} and {b}?", "What do {a} and {b} contain?"],
    },
    "kill_two": {
        "verbs": ["kill", "stop", "terminate", "abort", "shut down", "cancel", "halt", "end", "interrupt", "nuke"],
        "objects": ["{t1} and {t2}", "both {t1} and {t2}", "{t1} as well as {t2}", "terminals {t1} and {t2}",
                    "{t1} plus {t2}", "{t1} and also {t2}", "the jobs in {t1} and {t2}"],
        "cores": ["make {t1} and {t2} stop", "stop everything in {t1} and {t2}"],
        "questions": ["{t1} and {t2} are stuck, can you kill them?", "Can you stop {t1} and {t2}?"],
    },
    # follow-ups that refer to a background job started earlier ("it", "the server")
    "fu_get": {
        "cores": ["show me its output", "check its output", "check on it", "show me what it printed so far",
                  "see how it's doing", "peek at its output", "look at what it has printed", "grab its output so far",
                  # session 10: more ways to ask (multi-step cases confused the follow-up's verb)
                  "tell me what it has output", "show what it has logged so far", "read its log so far",
                  "check what it's printing", "take a look at its progress", "see what it has written so far"],
        "questions": ["What has it printed so far?", "Any output yet?", "How's it going?",
                      "Is it up yet? What did it print?",
                      "What does it say so far?", "Anything in its output yet?", "How far along is it?",
                      "Has it printed anything?", "What's it saying now?", "Is it doing anything?"],
    },
    "fu_wait": {
        "cores": ["wait for it to finish", "wait until it's done", "let it finish and tell me the exit code",
                  "block until it's done", "tell me when it completes", "wait for it to exit", "wait on it",
                  "let it run to the end and show me the result", "hang on until it finishes",
                  "wait till it completes", "stay on it until it exits", "let it complete, then report",
                  "hold until it has finished", "wait for it to wrap up", "sit tight until it ends"],
        "questions": ["Can you wait for it to finish?", "How does it end? Wait for it",
                      "What's its exit code once done?"],
    },
    "fu_kill": {
        "cores": ["kill it", "stop it", "shut it down", "cancel it", "terminate that job", "stop it now",
                  "kill that process", "abort it", "end it", "stop that, it's taking too long",
                  "put an end to it", "halt the process", "interrupt it", "cut it off", "take it down",
                  "stop the job"],
        "questions": ["That's taking too long, can you stop it?", "Can you kill it?", "It's stuck, kill it?",
                      "Could you shut it down?"],
    },
    "fu_release": {
        "cores": ["release that terminal", "free the terminal now", "release it", "clean up the terminal",
                  "free it up", "let go of that terminal", "release its terminal", "drop the terminal",
                  "close out the terminal", "give the terminal back", "hand the terminal back",
                  "release the terminal it used", "tidy up its terminal", "dispose of the terminal",
                  "let the terminal go"],
        "questions": ["We're done with it, can you release the terminal?", "Could you free its terminal?",
                      "It's finished, could you release it?"],
    },
}

# ---- no-call requests that mention files, commands and terminals without asking to act -------------
# (question, answer); slots {path} {cmd} {cmd2} {tid} are filled from the value pools. Held out by family.
MENTIONS: list[tuple[str, str]] = [
    ("What does {cmd} do?", "{explain} I can run it for you if you want to see its output."),
    ("Don't run it, just explain: what does {cmd} do?", "{explain}"),
    ("Without running anything, what is {cmd} for?", "{explain}"),
    ("Explain {cmd} to me like I'm new to this.", "{explain} Nothing runs until you ask me to."),
    ("Is {cmd} safe to run on a production machine?",
     "It depends on what it touches. {explain} Read-only commands are safe; anything that installs, deletes or deploys "
     "deserves a dry run first."),
    ("Should I run {cmd} before I commit?",
     "If it's a test, lint or format check, yes: running it before committing catches problems before CI does."),
    ("Which is better, {cmd} or {cmd2}?",
     "They do different jobs, so neither is strictly better; pick the one that matches what you need to check. Want me "
     "to run one of them?"),
    ("What's the difference between {cmd} and {cmd2}?",
     "They run different tools: the first word of each command names the program, and the rest are its arguments. I "
     "can run either one if you want to compare their output."),
    ("I already ran {cmd} myself and it passed. What should I do next?",
     "Nice. If the checks are green, commit your change with a clear message and open a pull request."),
    ("{cmd} failed on my laptop yesterday. What are common reasons for that?",
     "Usually a missing dependency, a different tool version, an environment variable that isn't set, or a stale "
     "cache. The error text usually names which."),
    ("How long does {cmd} usually take?",
     "That depends on the project's size; on a small project it typically takes seconds."),
    ("Why would someone run {cmd} in a CI pipeline?",
     "To check every change automatically: CI runs the same command on a clean machine, so failures show up before "
     "merging."),
    ("No need to run anything. Is {cmd} the right command to check my code?",
     "It's a reasonable check if it runs your tests or linter. Tell me when you want me to run it."),
    ("Is it safe to delete {path}?",
     "It depends on what uses it. If it's generated output you can regenerate it; if it's source or config, check `git "
     "status` and the places that import it first."),
    ("Should {path} be committed to git?",
     "Source and config files belong in git; generated files, secrets and local environment files don't. Put the "
     "latter in `.gitignore`."),
    ("What is a file like {path} usually used for?",
     "Its name and extension tell most of it: the folder says which part of the project it belongs to, the extension "
     "which language or format it is."),
    ("I just edited {path} myself, no need to look at it. How do I write a good commit message?",
     "A short imperative summary line (around 50 characters), a blank line, then a body that explains why the change "
     "was made."),
    ("Don't open {path}. How do I rename a file in git?", "Use `git mv old new`; git records it as a rename."),
    ("What would be a better name for {path}?",
     "A good file name says what's inside: name it after the main thing it defines or does, in the project's usual "
     "style."),
    ("Where should a file like {path} live in a project?",
     "Next to the code it belongs with: sources under the package folder, tests under `tests/`, docs under `docs/`."),
    ("How do I open {path} in vim?",
     "Run `vim` followed by the path in your terminal; `:q` quits and `:wq` saves and quits."),
    ("Can you remind me how to see the first 10 lines of {path} in bash?",
     "`head -n 10` followed by the file name does that."),
    ("I'll read {path} myself later. Quick question: what's a good way to structure a README?",
     "Start with what the project does, then how to install and run it, a short usage example, and how to contribute."),
    ("What does it mean when a terminal id like {tid} is unknown?",
     "The terminal was released (or never existed), so its id no longer refers to anything. Start the command again to "
     "get a new one."),
    ("Leave {tid} alone for now. What's the difference between killing and releasing a terminal?",
     "Killing stops the process that is still running; releasing frees a finished terminal's id so it no longer takes "
     "a slot."),
    ("Is {tid} a good name for a terminal?",
     "Terminal ids are assigned automatically when a command starts in the background, so you don't need to pick one."),
    ("Don't touch {tid}. How do I stop a process on port 3000 in bash?",
     "Find its PID with `lsof -i :3000`, then stop it with `kill <pid>` (or `kill -9 <pid>` if it ignores the "
     "signal)."),
    ("What's the difference between a background job and a daemon?",
     "A background job belongs to your shell session and ends with it; a daemon is a long-running service detached "
     "from any terminal."),
    ("How do I see the output of a background job in bash?",
     "Redirect its output to a file when you start it, then `tail -f` that file; `jobs` lists running jobs."),
    ("What's the difference between ctrl-c and ctrl-z?",
     "Ctrl-C interrupts the running program; Ctrl-Z suspends it, and `fg` or `bg` resumes it."),
    ("How do I wait for a background process in a shell script?",
     "Start it with `&`, then call `wait` (or `wait $pid`) where you need it to have finished."),
    ("Which is faster, cat or less?",
     "`cat` dumps the whole file at once; `less` shows it page by page and starts faster on huge files. For small "
     "files there's no real difference."),
    ("Can a Makefile include another one?",
     "Yes: `include other.mk` pulls another makefile in, and `-include` ignores it when it's missing."),
    ("What tools do you have?",
     "I can read and write files in your project, run commands (also in the background), and check, wait for, kill or "
     "release background terminals."),
    ("Can you read files?", "Yes. Tell me which file, and I'll open it."),
    ("Are you able to run commands in my project?",
     "Yes, I can run shell commands in the project folder. Which one should I run?"),
    ("Which of your tools would you use to look inside a file?",
     "`read_file`: give me the path and I'll show you its contents."),
    ("If I asked you to run the tests, what would you do?",
     "I would run the project's test command and report the result. Just say the word."),
    ("Is it better to run tests in the background?",
     "Only when they take long and you want to keep working meanwhile; for quick suites running them directly is "
     "simpler."),
    ("What's a good name for a config file?",
     "Something plain that says what it configures, like `settings.toml` or `config.yaml`."),
    ("How do I create an empty file from the terminal?",
     "`touch` followed by the file name creates it if it doesn't exist."),
    ("What is the difference between writing and appending to a file?",
     "Writing replaces the file's contents; appending adds to the end and keeps what's there."),
    ("How do I read a JSON file in Python?",
     "`json.load(open(name))`, or better inside a `with open(name) as f:` block."),
    ("Why does git say my working tree is dirty?",
     "You have uncommitted changes; `git status` lists them, and commit or stash them to clean it."),
    ("Any tips for keeping the test suite fast?",
     "Mark slow tests and skip them by default, avoid real network calls, use small fixtures and run tests in "
     "parallel."),
    ("Hmm, nevermind about running that. What's a flaky test?",
     "A test that sometimes passes and sometimes fails without code changes, usually because of timing, order or "
     "shared state."),
    ("Don't change anything in the repo, I just want your opinion: tabs or spaces?",
     "Spaces are the norm in most languages' style guides (PEP 8 says 4); the important part is being consistent "
     "within the project."),
    ("Please don't execute anything. How do environment variables reach a subprocess?",
     "A child process inherits the parent's environment; set a variable before starting it, or pass `env` explicitly."),
    ("I'm just thinking out loud here: should the build folder be in .gitignore?",
     "Yes. Build output is generated from the sources, so it shouldn't be committed."),
    ("No tools needed: what does exit code 127 mean?",
     "The shell couldn't find the command: it isn't installed or isn't on `PATH`."),
    ("What does exit code 1 usually mean?",
     "A generic failure: the program ran but reported an error. Its output usually says what went wrong."),
    ("Before you do anything, tell me: what's the safest way to clean a repo?",
     "`git clean -n` shows what would be deleted; run `git clean -fd` only after checking that list."),
]

# Harder no-call families (session 5): opinions about a named file, hypotheticals about a command,
# questions about terminals, how-to questions and code requests that name no file. Each names what a
# call would act on, and none asks to act.
MENTIONS += [
    ("Should {path} be committed to git?",
     "Commit it if it's source, config or docs that others need; keep it out if it's generated, local-only or holds "
     "secrets."),
    ("Can I rename {path} without breaking anything?",
     "Only if nothing imports or references it by that name: search the project for the old name and update those "
     "references too."),
    ("Would moving {path} to another folder break the build?",
     "It can, if imports, build scripts or configs point at its current location. Update those paths when you move "
     "it."),
    ("Is {path} a good place to keep secrets?",
     "No file in the repository is: keep secrets in environment variables or a secret manager, and out of version "
     "control."),
    ("Do I really need to keep {path} around?",
     "If nothing references it and it isn't generated on purpose, you can probably remove it; search for its name "
     "first."),
    ("Should {path} go in .gitignore?",
     "Only if it's generated, machine-specific or secret. Source files and shared config belong in the repository."),
    ("I haven't looked at {path} yet. What's usually in a file like that?",
     "Judging only by the name, code or settings for that part of the project. I can open it if you want to know for "
     "sure."),
    ("Without opening it, is {path} a test file or source code?",
     "Names under a `tests/` folder or starting with `test_` are usually tests; everything else is usually source. I "
     "can read it to check."),
    ("Who should review changes to {path}?",
     "Whoever owns that part of the code; a CODEOWNERS file, if the project has one, says so."),
    ("Is it bad practice to have a file as long as {path} might be?",
     "Long files are fine if they hold one topic; split them when unrelated parts change for different reasons."),
    ("What would happen if I ran {cmd} twice in a row?",
     "For read-only checks you'd just get the same result twice; commands that install or change files usually end in "
     "the same state."),
    ("Will {cmd} delete anything?",
     "{explain} Commands like that don't delete your files unless they clean build output on purpose."),
    ("Is it okay to run {cmd} while the dev server is up?",
     "Usually yes: it runs as a separate process. Only commands that rebuild the same files can clash."),
    ("Do I need sudo for {cmd}?",
     "No: project commands run as your user. Needing sudo for them usually points at a permissions problem."),
    ("Can {cmd} run on Windows too?",
     "If the tool itself is installed there, yes; shell syntax like pipes and globs may differ in PowerShell."),
    ("How do I make {cmd} print more details?",
     "Most tools take `-v` or `--verbose` for more output; the tool's `--help` lists its flags."),
    ("How would I run {cmd} on just one file?",
     "Pass the file's path as an extra argument; most test runners and linters accept paths."),
    ("I'll run {cmd} myself in a minute. Anything I should watch out for?",
     "Run it from the project root, and read the first error rather than the last one: later errors often follow from "
     "it."),
    ("Last time {cmd} printed 'permission denied'. Why would that happen?",
     "The user running it couldn't read, write or execute a file it needed: check that file's permissions and owner."),
    ("Don't start anything yet. What's the usual order: {cmd} or {cmd2} first?",
     "Usually install and build steps come first, then tests, then linters; but either order works if they don't "
     "depend on each other."),
    ("Will killing {tid} lose its output?",
     "The output printed so far stays readable until the terminal is released; killing only stops the process."),
    ("Does releasing {tid} stop the process?",
     "Releasing is for terminals whose command has finished; to stop one that's still running you'd kill it first."),
    ("Should I wait for {tid} or kill it?",
     "Wait if it's doing useful work and will finish; kill it if it's stuck or no longer needed."),
    ("What's the difference between waiting for {tid} and checking its output?",
     "Checking its output returns what it has printed so far and leaves it running; waiting blocks until it exits and "
     "gives the exit code."),
    ("I stopped {tid} myself from my shell. Is that a problem?",
     "No. Its terminal id can still be released once you're done with it."),
    ("How many background terminals can run at the same time?",
     "Several can; each gets its own id. Release the finished ones so they don't pile up."),
    ("Write a Python function that checks whether a number is prime.",
     "```python\ndef is_prime(n: int) -> bool:\n    if n < 2:\n        return False\n    return all(n % d for d in "
     "range(2, int(n ** 0.5) + 1))\n```"),
    ("Show me an example of a for loop in bash.", "```bash\nfor f in *.txt; do\n  echo \"$f\"\ndone\n```"),
    ("Give me a regex that matches a simple email address.",
     "`^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$` matches most everyday addresses; real validation means sending a confirmation "
     "mail."),
    ("How do I write text to a file in Python?",
     "```python\nwith open(\"notes.txt\", \"w\") as fh:\n    fh.write(\"hello\\n\")\n```"),
    ("How do I skip blank lines when reading a file in Python?",
     "```python\nwith open(\"data.txt\") as fh:\n    lines = [ln.rstrip() for ln in fh if ln.strip()]\n```"),
    ("What's the bash command to count the lines in a file?", "`wc -l` followed by the file name."),
    ("How do I bring a background job back to the foreground in bash?",
     "`fg` brings back the most recent one; `jobs` lists them and `fg %2` picks one."),
    ("Can you write me a .gitignore for a Python project? Just paste it here.",
     "```\n__pycache__/\n*.pyc\n.venv/\ndist/\nbuild/\n.pytest_cache/\n```"),
    ("Just show me in the chat what a minimal Dockerfile for a Python app looks like.",
     "```dockerfile\nFROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nCMD "
     "[\"python\", \"main.py\"]\n```"),
    ("How do I kill a process by name in Linux?",
     "`pkill name` sends it SIGTERM; `pkill -9 name` forces it if it ignores that."),
    ("What does the read_file tool do if the file doesn't exist?",
     "It returns an error saying the file was not found, and I tell you so instead of guessing its contents."),
    ("Can you run commands in the background?",
     "Yes: I start them in a background terminal and get an id to check, wait for, kill or release it."),
    ("What's the difference between your read_file and run_command tools?",
     "`read_file` returns a file's contents; `run_command` runs a shell command in the project and returns its exit "
     "code and output."),
    ("Explain what a terminal id is, briefly.",
     "It names a command I started in the background, so I can check its output, wait for it, kill it or release it "
     "later."),
    ("I just want to talk about {path} for a second: what makes a config file easy to read?",
     "Few levels of nesting, comments on non-obvious values, sensible defaults, and one setting per line."),
    ("Let's talk about {cmd} before running it. What's it for?", "{explain}"),
    ("Not now, but later I'll need you to read {path}. For now: what's a linter?",
     "A tool that checks code for likely bugs and style problems without running it, like ruff or eslint."),
    ("Don't open {path}. Just tell me: what's the convention for naming Python files?",
     "Lowercase with underscores (`snake_case.py`), short, and named after what the module does."),
    ("Hypothetically, if I deleted {path}, could git bring it back?",
     "Yes, if it was committed: `git checkout -- <path>` or `git restore <path>` brings back the last committed "
     "version."),
]

# Requests *not* to act, changes of mind and asides (session 7): they name an action, a file or a
# terminal and mean "do nothing" (independent suites: "no, don't run it", "leave the Dockerfile").
MENTIONS += [
    ("Scratch that, skip {cmd}.", "Okay, I won't run it."),
    ("Actually, hold off on {cmd} for now.", "Sure, I'll wait until you say so."),
    ("Give me a minute to think before you run anything else.", "Understood. I'll wait for you."),
    ("{path} is fine the way it is, no changes.", "Okay, I won't change `{path}`."),
    ("Don't touch {path} yet, I'm reviewing it.", "Got it, I'll leave `{path}` alone."),
    ("No edits until I've reviewed the pull request, please.", "Sure. Tell me when you're ready."),
    ("Oops, that message was meant for someone else.", "No problem."),
    ("Never mind, forget what I said about {path}.", "Okay, forgotten."),
    ("Keep {tid} running, don't stop it.", "Okay, I'll leave `{tid}` running."),
    ("Don't kill {tid}, it's supposed to run all night.", "Understood, I won't touch `{tid}`."),
    ("I'll run {cmd} myself, you don't have to.", "Sure, let me know how it goes."),
    ("Stop, don't write anything to {path}.", "Okay, I won't write to `{path}`."),
    ("No need to open {path}, I already know what's in it.", "Alright. What would you like to do next?"),
    ("Wait, don't release {tid}, I still need its output.", "Okay, `{tid}` stays as it is."),
    ("Stepping away for lunch, talk soon.", "Sure, I'll be here."),
    ("Let me check something first; don't run {cmd} yet.", "Okay, I'll wait."),
    ("back after my call", "See you in a bit."),
    ("Ignore my last message about {cmd}.", "Okay, ignored."),
]

# A short, true description per command family (first word), used in MENTIONS answers.
EXPLAIN = {
    "pytest": "{cmd} runs the Python test suite with pytest and reports passes and failures.",
    "python": "{cmd} runs a Python interpreter with those arguments.",
    "npm": "{cmd} runs an npm script or package-manager action defined for the Node.js project.",
    "yarn": "{cmd} runs a Yarn script or package action for the Node.js project.",
    "pnpm": "{cmd} runs a pnpm script or package action for the Node.js project.",
    "npx": "{cmd} runs a Node.js tool from the project's dependencies without installing it globally.",
    "cargo": "{cmd} runs a Cargo action (build, test, lint) for the Rust project.",
    "go": "{cmd} runs a Go toolchain action such as building, testing or vetting the packages.",
    "make": "{cmd} runs the targets defined in the project's Makefile.",
    "git": "{cmd} asks git about the repository's history or state (or changes it, for commands like commit).",
    "docker": "{cmd} talks to Docker to build, list or run containers and images.",
    "ls": "{cmd} lists directory contents.",
    "grep": "{cmd} searches files for lines matching a pattern.",
    "ruff": "{cmd} runs the Ruff linter or formatter over the code.",
    "black": "{cmd} checks or applies Black's Python formatting.",
    "pip": "{cmd} installs or inspects Python packages.",
}


@cache
def parts(side: str) -> dict[str, Any]:
    """Every part list of the grammar, restricted to one side (``train`` or ``heldout``)."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    out: dict[str, Any] = {
        "wrappers": split_parts(WRAPPERS)[side],
        "preambles": split_parts(PREAMBLES, anchors=4)[side],
        "inline_tails": split_parts(INLINE_TAILS, anchors=4)[side],
        "sentence_tails": split_parts(SENTENCE_TAILS, anchors=5)[side],
        "mentions": split_pairs(MENTIONS, side),
        "m_topics": split_pairs(_mentions.TOPICS, side),
        "m_openers": split_parts(_mentions.OPENERS, anchors=4)[side],
        "m_closers": split_parts(_mentions.CLOSERS, anchors=4)[side],
        "seq": split_parts(SEQ_CONNECTORS)[side],
        "par": split_parts(PAR_CONNECTORS)[side],
        "intents": {},
    }
    for name, spec in INTENTS.items():
        out["intents"][name] = {k: split_parts(v)[side] for k, v in spec.items()}
    return out


def intent_cores(name: str, side: str) -> list[str]:
    """All cores of an intent on one side: composed verb × object, whole cores (for run_* frames too)."""
    spec = parts(side)["intents"][name]
    cores = [f"{v} {o}" for v in spec.get("verbs", []) for o in spec.get("objects", [])]
    if side == "heldout" and name in INTENTS and "verbs" in INTENTS[name]:
        # a held-out verb with any object, or any verb with a held-out object frame
        train = parts("train")["intents"][name]
        cores += [f"{v} {o}" for v in spec.get("verbs", []) for o in train.get("objects", [])]
        cores += [f"{v} {o}" for v in train.get("verbs", []) for o in spec.get("objects", [])]
    cores += spec.get("cores", [])
    if name in ("run_cwd", "run_bg"):
        # frames around plain run cores ("execute {cmd}"), not around whole phrases; held out: a
        # held-out frame around any run verb, or a train frame around a held-out run verb
        def runs(run_side: str) -> list[str]:
            run = parts(run_side)["intents"]["run"]
            return [f"{v} {o}" for v in run["verbs"] for o in run["objects"] if o in ("{cmd}", "the command {cmd}")]

        frames = spec.get("frames", [])
        cores = [f.replace("{r}", r) for f in frames for r in runs("train")] + cores
        if side == "heldout":
            cores += [f.replace("{r}", r) for f in frames for r in runs("heldout")]
            cores += [f.replace("{r}", r) for f in parts("train")["intents"][name]["frames"] for r in runs("heldout")]
    return list(dict.fromkeys(cores))


# ---- rendering --------------------------------------------------------------------------------------
_SLOT = re.compile(r"\{(\w+)\}")
_QUOTES = ("`", '"', "'")


class Grammar:
    """Renders requests for one side; all randomness comes from the caller's ``rng``."""

    def __init__(self, side: str, rng: random.Random) -> None:
        self.side = side
        self.rng = rng
        self.p = parts(side)
        self._cores: dict[str, list[str]] = {}

    def pick(self, seq: list[Any]) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def cores(self, intent: str) -> list[str]:
        if intent not in self._cores:
            self._cores[intent] = intent_cores(intent, self.side)
        return self._cores[intent]

    def _part(self, key: str) -> str:
        return self.pick(self.p[key])

    def has(self, intent: str) -> bool:
        return intent in INTENTS

    def request(self, intent: str, **values: str) -> str:
        """One user request for ``intent`` with the given slot values, exactly recoverable."""
        spec = self.p["intents"][intent]
        questions = spec.get("questions", [])
        if questions and self.rng.random() < 0.22:
            sentence = self.pick(questions)
        else:
            # most people just say it: the bare core is as likely as any one wrapper is rare
            wrapper = "{c}" if self.rng.random() < 0.3 else self._part("wrappers")
            tail = self._part("inline_tails") if self.rng.random() < 0.35 else ""
            sentence = wrapper.replace("{c}", self.pick(self.cores(intent)) + tail)
            if not sentence.endswith("?") and self.rng.random() < 0.5:
                sentence += self.pick([".", ".", "!"])
        return self.fill(self.frame(sentence), values)

    def compose(self, items: list[tuple[str, dict[str, str]]], mode: str) -> str:
        """Two requests in one sentence: ``mode`` "seq" (one after the other) or "par" (both at once).

        ``items`` are (intent, slot values) in the order the calls happen; each core's slots are
        renamed per item so two paths (or a path and a command) never collide.
        """
        connector = self._part(mode)
        values: dict[str, str] = {}
        cores = []
        for i, (intent, vals) in enumerate(items):
            core = self.pick(self.cores(intent))
            cores.append(_SLOT.sub(lambda m, i=i: "{" + f"{m.group(1)}__{i}" + "}", core))
            values.update({f"{k}__{i}": v for k, v in vals.items()})
        c = connector.replace("{a}", cores[0]).replace("{b}", cores[1])
        wrapper = "{c}" if self.rng.random() < 0.5 else self._part("wrappers")
        sentence = wrapper.replace("{c}", c)
        if not sentence.endswith("?") and self.rng.random() < 0.5:
            sentence += self.pick([".", ".", "!"])
        return self.fill(self.frame(sentence), values)

    def frame(self, sentence: str) -> str:
        """Sometimes a preamble before and a sentence after; the case of the join follows the preamble."""
        pre = self._part("preambles") if self.rng.random() < 0.35 else ""
        post = self._part("sentence_tails") if self.rng.random() < 0.3 else ""
        if pre and not pre.endswith((". ", "! ", "? ", ": ")):
            sentence = sentence[:1].lower() + sentence[1:] if not sentence.startswith(("I ", "I'")) else sentence
        else:
            sentence = _capitalise(sentence)
        return pre + sentence + post

    def fill(self, text: str, values: dict[str, str]) -> str:
        """Variants on the template words only (case, final punctuation, a typo), then the slots."""
        r = self.rng.random()
        if r < 0.12:
            text = _lower_outside_slots(text)
        if self.rng.random() < 0.15:
            text = text.rstrip(".!")
        if self.rng.random() < 0.05:
            text = _typo(text, self.rng)
        out: list[str] = []
        pos = 0
        for m in _SLOT.finditer(text):
            out.append(text[pos : m.start()])
            name = m.group(1)
            value = values[name]
            after = text[m.end() : m.end() + 2]
            base = name.split("__")[0]
            out.append(self.quote(SLOT_KIND.get(base, base), value, after))
            pos = m.end()
        out.append(text[pos:])
        return "".join(out)

    def quote(self, slot: str, value: str, after: str) -> str:
        """A quoting style for ``value``; bare only where its end stays unambiguous."""
        allowed = [q for q in _QUOTES if q not in value]
        bare_ok = "\n" not in value and slot != "content"
        if slot in ("cmd", "cmd2"):
            # a bare command must end the sentence or be followed by punctuation + space/end
            at_end = after == "" or (after[0] in "?!,.:;" and (len(after) == 1 or after[1] == " "))
            bare_ok = bare_ok and at_end and value[-1:] not in "?!,.:;'\"`"
        weights = {"path": (0.55, 0.25, 0.1, 0.1), "cwd": (0.6, 0.2, 0.1, 0.1), "tid": (0.7, 0.2, 0.05, 0.05),
                   "cmd": (0.25, 0.5, 0.15, 0.1), "cmd2": (0.0, 1.0, 0.0, 0.0), "content": (0.0, 0.6, 0.25, 0.15)}
        w_bare, *w_q = weights.get(slot, (0.5, 0.3, 0.1, 0.1))
        if bare_ok and self.rng.random() < w_bare:
            return value
        if not allowed:
            return value if bare_ok else f"`{value}`"
        qw = [w for q, w in zip(_QUOTES, w_q, strict=True) if q in allowed]
        q = self.rng.choices(allowed, qw if sum(qw) > 0 else None)[0]
        return f"{q}{value}{q}"

    def composed_mention(self) -> tuple[str, str]:
        """Opener × topic × closer (``_mentions``); a plain topic gets the usual preamble / tail instead."""
        q, a = self.pick(self.p["m_topics"])
        opener, closer = self._part("m_openers"), self._part("m_closers")
        if not (opener or closer):
            return self.frame(q), a
        joined = opener + (_capitalise(q) if not opener or opener.endswith((": ", ". ")) else q)
        return joined + closer, a

    def mention(self, values: dict[str, str]) -> tuple[str, str]:
        """A no-call question that names a file/command/terminal, and its answer."""
        if self.p["m_topics"] and self.rng.random() < COMPOSED_MENTION_SHARE:
            q, a = self.composed_mention()
        else:
            q, a = self.pick(self.p["mentions"])
            q = self.frame(q)
        cmd = values.get("cmd", "")
        explain = EXPLAIN.get(cmd.split()[0] if cmd else "",
                              "{cmd} runs `" + (cmd.split()[0] if cmd else "") + "` with those arguments.")
        a = a.replace("{explain}", explain)
        question = self.fill(q, values)
        answer = _SLOT.sub(lambda m: f"`{values[m.group(1)]}`" if m.group(1) in values else m.group(0), a)
        return question, answer


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text and not text.startswith("{") else text


def _lower_outside_slots(text: str) -> str:
    return "".join(p if p.startswith("{") else p.lower() for p in re.split(r"(\{\w+\})", text))


def _typo(text: str, rng: random.Random) -> str:
    """Swap or drop a letter in one template word of 5+ letters (never inside a slot)."""
    pieces = re.split(r"(\{\w+\})", text)
    spots = [(i, m) for i, p in enumerate(pieces) if not p.startswith("{") for m in re.finditer(r"[A-Za-z]{5,}", p)]
    if not spots:
        return text
    i, m = spots[rng.randrange(len(spots))]
    word = m.group(0)
    k = rng.randrange(1, len(word) - 2)
    new = word[:k] + word[k + 1] + word[k] + word[k + 2 :] if rng.random() < 0.6 else word[:k] + word[k + 1 :]
    pieces[i] = pieces[i][: m.start()] + new + pieces[i][m.end() :]
    return "".join(pieces)
