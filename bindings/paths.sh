# Sourced by the binding scripts so they agree on where things live:
#   target_dir  cargo's target directory (honours CARGO_TARGET_DIR and config)
#   tools       the Kotlin compiler and tree-sitter (EGOCAP_TOOLS_DIR overrides)
# Expects $root (the workspace root) to be set.
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[ -n "$target_dir" ] || { echo "cannot find cargo's target directory" >&2; exit 1; }
tools="${EGOCAP_TOOLS_DIR:-$target_dir/tools}"
