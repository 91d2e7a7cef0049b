# attack.mk: the project's attack suite (tests/attack): hostile inputs, flags, special files,
# concurrent trainers, kill -9 while checkpointing, full and read-only filesystems, under the
# release and the sanitizer binaries with a timeout each (see tests/attack/attack.py).
#   make attack          every case and scenario (about a minute or two on 2 cores)
#   make attack-quick    the quick part, which the test command (scripts/run-tests.sh) runs too
# The binaries are ATTACK_TTT (build/ttt) and ATTACK_TTT_SAN (build-debug/ttt); build them first
# (make all, make DEBUG=1 all). The tally goes to build/attack.json.
.PHONY: attack attack-quick

ATTACK_TTT ?= build/ttt
ATTACK_TTT_SAN ?= build-debug/ttt

attack:
	python3 tests/attack/attack.py --ttt $(ATTACK_TTT) --ttt-san $(ATTACK_TTT_SAN) --json build/attack.json

attack-quick:
	python3 tests/attack/attack.py --quick --ttt $(ATTACK_TTT) --ttt-san $(ATTACK_TTT_SAN) --json build/attack-quick.json
