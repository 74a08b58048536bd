#!/usr/bin/env bash
# Compiles (to SIL, with its diagnostics) every Swift listing of the DocC tutorial
# (Sources/Deferreds/Deferreds.docc/Resources/code) against the package's built modules, warnings
# as errors, so no step of the tutorial can drift from the API. The last listing of each chapter is
# also a target of the package (Examples/Tutorial, and blog-example and blog-async), built by every
# `swift build`; this checks the steps before them. The Package.swift listings are manifests:
# SwiftPM must load each (swift package dump-package). Run by `make docs`, after `swift build`.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
bin=$($SWIFT build --show-bin-path)
status=0
count=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for f in Sources/Deferreds/Deferreds.docc/Resources/code/*.swift; do
    case $f in
    *Package.swift)
        # A manifest: SwiftPM must load it (dependencies are not resolved).
        count=$((count + 1))
        mkdir -p "$scratch/m" && cp "$f" "$scratch/m/Package.swift"
        if ! (cd "$scratch/m" && $SWIFT package dump-package >/dev/null); then
            echo "tutorial manifest does not load: $f" >&2
            status=1
        fi
        continue
        ;;
    esac
    count=$((count + 1))
    if ! swiftc -emit-sil -o /dev/null -swift-version 6 -warnings-as-errors -I "$bin/Modules" \
        -Xcc -fmodule-map-file="$bin/CCurl.build/module.modulemap" \
        -Xcc -fmodule-map-file="$bin/CLinux.build/module.modulemap" \
        -Xcc -fmodule-map-file="$bin/CAres.build/module.modulemap" \
        -Xcc -fmodule-map-file="$bin/COpenSSL.build/module.modulemap" \
        -Xcc -fmodule-map-file=Sources/CZlib/module.modulemap \
        -Xcc -ISources/CCurl/include -Xcc -ISources/CLinux/include -Xcc -ISources/CAres/include -Xcc -ISources/COpenSSL/include "$f"; then
        echo "tutorial listing does not compile: $f" >&2
        status=1
    fi
done
echo "tutorial listings compiled: $count" >&2
exit $status
