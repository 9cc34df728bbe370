# Shared by install.sh and update.sh (sourced): versioned venvs and the symlink switch.

# make_release HOME WHEEL -> prints the new release directory
make_release() {
    _home=$1 _wheel=$2
    _version=$(basename "$_wheel" | cut -d- -f2)
    _dir="$_home/releases/$_version-$(date -u +%Y%m%dT%H%M%S)"
    # --system-site-packages: picamera2 and libcamera come from Raspberry Pi OS's apt.
    "${TEM_PYTHON:-python3}" -m venv --system-site-packages "$_dir" >&2
    # shellcheck disable=SC2086
    "$_dir/bin/pip" install --quiet --disable-pip-version-check ${TEM_PIP_OPTS:-} "$_wheel[station]" >&2
    echo "$_dir"
}

# switch_release HOME DIR: atomically point HOME/current at DIR, remember the old target
switch_release() {
    _home=$1 _dir=$2
    if [ -L "$_home/current" ]; then
        readlink "$_home/current" > "$_home/previous"
    fi
    ln -sfn "releases/$(basename "$_dir")" "$_home/current.new"
    mv -T "$_home/current.new" "$_home/current"
}
