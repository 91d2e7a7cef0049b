#!/usr/bin/env python3
"""rdb-extract.py: decodes the six Jane Austen novels from the janeaustenr R package's lazy-load
database (Rdata.rdb, Debian r-cran-janeaustenr 1.0.0-1) without R, into OUTDIR/austen_NAME.txt.
The file is six records [u32 BE length][zlib stream], alphabetical by name; each record is an
R serialization of one character vector (one element per line of the novel)."""
import struct
import sys
import zlib

NAMES = ['emma', 'mansfieldpark', 'northangerabbey', 'persuasion', 'prideprejudice',
         'sensesensibility']


def main(rdb, outdir):
    d = open(rdb, 'rb').read()
    off = 0
    for name in NAMES:
        z = zlib.decompressobj()
        out = z.decompress(d[off + 4:])
        off = len(d) - len(z.unused_data)
        p = 14                                          # 'X\n', version ints
        p += 4 + struct.unpack('>I', out[p:p + 4])[0]   # native encoding name ("UTF-8")
        _, n = struct.unpack('>II', out[p:p + 8])       # STRSXP header, number of lines
        p += 8
        lines = []
        for _ in range(n):                              # CHARSXP: flags, length (-1 = NA), bytes
            _, ln = struct.unpack('>Ii', out[p:p + 8])
            p += 8
            if ln < 0:
                lines.append('')
                continue
            lines.append(out[p:p + ln].decode('utf-8'))
            p += ln
        with open(f'{outdir}/austen_{name}.txt', 'w', encoding='utf-8', newline='\n') as f:
            f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: rdb-extract.py Rdata.rdb OUTDIR')
    main(sys.argv[1], sys.argv[2])
