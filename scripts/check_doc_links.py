#!/usr/bin/env python3
"""Check that every relative link and anchor in the top-level *.md, data/README.md and docs/*.md resolves."""
import re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent if len(sys.argv) < 2 else Path(sys.argv[1]).resolve()

def slugs(path):
    out, seen, fence = set(), {}, False
    for line in path.read_text().split('\n'):
        if line.lstrip().startswith('```'):
            fence = not fence
            continue
        m = None if fence else re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if not m:
            continue
        s = m.group(1).strip().lower()
        s = re.sub(r'[^\w\- ]', '', s).replace(' ', '-')
        n = seen.get(s, 0); seen[s] = n + 1
        out.add(s if n == 0 else f'{s}-{n}')
    return out

def links(path):
    text, fence, out = path.read_text(), False, []
    for line in text.split('\n'):
        if line.lstrip().startswith('```'):
            fence = not fence
            continue
        if fence:
            continue
        line = re.sub(r'`[^`]*`', '', line)
        out += re.findall(r'!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)', line)
    return out

bad = 0
files = sorted(ROOT.glob('*.md')) + [ROOT / 'data' / 'README.md'] + sorted((ROOT / 'docs').glob('*.md'))
for f in files:
    for link in links(f):
        if re.match(r'^[a-z]+:', link):
            continue
        target, _, anchor = link.partition('#')
        dest = (f.parent / target).resolve() if target else f
        if ROOT not in dest.parents and dest != ROOT:
            print(f'{f.relative_to(ROOT)}: {link}: outside the repository'); bad += 1; continue
        if not dest.exists():
            print(f'{f.relative_to(ROOT)}: {link}: no such file'); bad += 1; continue
        if anchor and dest.suffix == '.md' and anchor not in slugs(dest):
            print(f'{f.relative_to(ROOT)}: {link}: no heading #{anchor}'); bad += 1
n = sum(len(links(f)) for f in files)
print(f'{len(files)} files, {n} links, {bad} broken')
sys.exit(1 if bad else 0)
