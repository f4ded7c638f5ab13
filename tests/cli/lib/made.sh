# Sourced by the tests that compare two report documents of the same run (part R of issue 14):
# each document says when, where and by what command it was made (its "made" member,
# docs/REPORT_SCHEMA.md), which differs between them by design; same_report compares the
# rest byte for byte.
unmade() { sed '/^  "made": {$/,/^  },$/d' "$1"; }
same_report() { cmp -s <(unmade "$1") <(unmade "$2"); }
