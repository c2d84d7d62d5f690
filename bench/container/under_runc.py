"""The inits as the process of runc containers: one busybox-static root holding the four inits
(and the libraries of any that is not static), one OCI bundle per init (`runc spec`, terminal
off, our args), runc's state in the bench's temporary tree. Every container is deleted with
`runc delete -f` when the bench ends, however it ends."""
import json, os, shutil, signal, subprocess, time


def libraries(program):
    """The files a dynamically linked program loads (ldd), or [] if it is static."""
    out = subprocess.run(["ldd", program], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        words = line.replace("=>", " ").split()
        found += [w for w in words if w.startswith("/")]
    return found


def make_root(root, programs):
    """Copies programs ({path in the container: host path}) into root, with their libraries.
    Returns {path in the container: [libraries copied for it]} for the dynamic ones."""
    copied = {}
    for inside, host in programs.items():
        for path in [host] + libraries(host):
            target = os.path.join(root, (inside if path == host else path).lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                shutil.copy(path, target)
            if path != host:
                copied.setdefault(inside, []).append(path)
    return copied


class Runc:
    """runc with its state in a directory of its own, and the `runc run` under way, if any."""

    def __init__(self, runc, tree):
        self.runc = runc
        self.tree = tree
        self.state = os.path.join(tree, "state")
        self.running = None
        self.count = 0

    def bundle(self, name, root, args):
        """A bundle NAME whose config.json is `runc spec`'s with terminal off and these args."""
        path = os.path.join(self.tree, "bundles", name)
        os.makedirs(path)
        subprocess.run([self.runc, "spec", "--bundle", path], check=True)
        config_path = os.path.join(path, "config.json")
        with open(config_path) as f:
            config = json.load(f)
        config["process"]["terminal"] = False
        config["process"]["args"] = args
        config["root"]["path"] = root
        with open(config_path, "w") as f:
            json.dump(config, f, indent=1)
        return path

    def run(self, bundle):
        """`runc run` of a new container from bundle, to its end: (ms from spawn to exit,
        runc's ru_maxrss in KiB)."""
        self.count += 1
        argv = [self.runc, "--root", self.state, "run", "--bundle", bundle, f"ostler-bench-{os.getpid()}-{self.count}"]
        start = time.perf_counter()
        self.running = os.posix_spawn(self.runc, argv, os.environ)
        _, status, usage = os.wait4(self.running, 0)
        took = (time.perf_counter() - start) * 1000
        self.running = None
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"bench/container: FAILED: {' '.join(argv)} exited {code}; its config: {bundle}/config.json")
        return took, usage.ru_maxrss

    def clean_up(self):
        """Stops a `runc run` still under way and deletes every container in our state."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if self.running is not None:
                try:
                    os.kill(self.running, signal.SIGKILL)
                    os.waitpid(self.running, 0)
                except (ChildProcessError, ProcessLookupError):
                    pass
                self.running = None
            if os.path.isdir(self.state):
                listed = subprocess.run([self.runc, "--root", self.state, "list", "-q"], capture_output=True, text=True)
                for container in listed.stdout.split():
                    subprocess.run([self.runc, "--root", self.state, "delete", "-f", container])
        finally:
            signal.signal(signal.SIGINT, previous)
