# attack.mk: the project's attack suite (tests/attack): hostile inputs, flags, special files,
# concurrent trainers, kill -9 while checkpointing, full and read-only filesystems, under the
# release and the sanitizer binaries with a timeout each (see tests/attack/attack.py).
#   make attack          every case and scenario (a few minutes on 2 cores)
#   make attack-quick    the quick part, which the test command (scripts/run-tests.sh) runs too
# The binaries are TTT (build/ttt) and TTT_SAN (build-debug/ttt, empty to skip); nothing is
# rebuilt here (make all, make DEBUG=1 all first). The tally goes next to the release binary:
# attack.json and attack-quick.json. ATTACK_FLAGS passes more, e.g. ATTACK_FLAGS='--only tok-'.
.PHONY: attack attack-quick

TTT ?= build/ttt
TTT_SAN ?= build-debug/ttt
ATTACK_TTT ?= $(TTT)
ATTACK_TTT_SAN ?= $(TTT_SAN)
ATTACK_FLAGS ?=

attack:
	python3 tests/attack/attack.py --ttt $(ATTACK_TTT) --ttt-san '$(ATTACK_TTT_SAN)' \
	    --json $(dir $(ATTACK_TTT))attack.json --table $(ATTACK_FLAGS)

attack-quick:
	python3 tests/attack/attack.py --quick --ttt $(ATTACK_TTT) --ttt-san '$(ATTACK_TTT_SAN)' \
	    --json $(dir $(ATTACK_TTT))attack-quick.json $(ATTACK_FLAGS)
