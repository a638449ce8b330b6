# Thin wrapper over CMake/Ninja; scripts/run.sh does the work.
.PHONY: all build check demo bench fuzz soak deps clean
all: build
build deps check demo bench fuzz soak:
	bash scripts/run.sh $@
clean:
	rm -rf build build-fuzz build-asan
