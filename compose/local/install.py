"""Installing what the local stack needs: Debian packages and jars from Maven Central.

Jars are resolved by ``mvn`` from the small POMs in ``compose/local/maven`` into a Maven
repository inside the checkout (``.cache/m2``) and copied to ``.cache/jars/<component>``.
A marker holding the POM's hash makes a second run a no-op.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from compose.local.process import StackError

HERE = Path(__file__).resolve().parent
MAVEN_DIR = HERE / "maven"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"

# Tool on PATH -> Debian package that provides it.
APT_PACKAGES = {
    "java": "openjdk-17-jre-headless",
    "javac": "openjdk-17-jdk-headless",
    "jar": "openjdk-17-jdk-headless",
    "mvn": "maven",
    "mariadbd": "mariadb-server",
    "mariadb": "mariadb-client",
    "mariadb-install-db": "mariadb-server",
    "redis-server": "redis-server",
    "ss": "iproute2",
}

# Components whose jars come from Maven Central, and whether their transitive dependencies
# are wanted (Spark already ships Scala and Hadoop, so only direct jars are copied for it).
MAVEN_COMPONENTS = {"kafka": True, "gremlin": True, "spark": False}


def which(tool: str) -> str | None:
    """Path of ``tool`` on PATH or in the sbin folders Debian puts servers in."""
    found = shutil.which(tool)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        candidate = Path(folder) / tool
        if candidate.exists():
            return str(candidate)
    return None


def ensure_tools(tools: list[str], log: Path) -> list[str]:
    """Install missing tools from Debian's apt; return the packages that were installed.

    Raises:
        StackError: a tool is missing and cannot be installed here, naming it.
    """
    missing = sorted({APT_PACKAGES[t] for t in tools if which(t) is None})
    if not missing:
        return []
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise StackError(
            f"missing tools: {', '.join(missing)}; install them with "
            f"`sudo apt-get install -y {' '.join(missing)}` and run `paystream stack up` again"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        for argv in (
            [apt, "update"],
            [apt, "install", "-y", "--no-install-recommends", *missing],
        ):
            result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
            if result.returncode != 0:
                raise StackError(
                    f"`{' '.join(argv)}` failed (exit {result.returncode}) while installing "
                    f"{', '.join(missing)}; see {log}"
                )
    still = [t for t in tools if which(t) is None]
    if still:
        raise StackError(f"installed {', '.join(missing)} but still missing: {', '.join(still)}")
    return missing


def jars_dir(cache: Path, component: str) -> Path:
    """Folder holding the jars of one Maven component."""
    return cache / "jars" / component


def _pom_hash(component: str) -> str:
    digest = hashlib.sha256((MAVEN_DIR / component / "pom.xml").read_bytes())
    digest.update((MAVEN_DIR / "settings.xml").read_bytes())
    return digest.hexdigest()


def jars_ready(cache: Path, component: str) -> bool:
    """True if the component's jars were fetched for the current POM."""
    marker = jars_dir(cache, component) / ".complete"
    return marker.exists() and marker.read_text().strip() == _pom_hash(component)


def fetch_jars(cache: Path, component: str, log: Path) -> bool:
    """Fetch a component's jars with ``mvn`` unless already there; True if it downloaded.

    Raises:
        StackError: ``mvn`` failed; the message names the component and the failing artifact.
    """
    if jars_ready(cache, component):
        return False
    target = jars_dir(cache, component)
    if target.exists():
        shutil.rmtree(target)
    argv = [
        which("mvn") or "mvn",
        "-B",
        "-q",
        "-s",
        str(MAVEN_DIR / "settings.xml"),
        f"-Dmaven.repo.local={cache / 'm2'}",
        "-f",
        str(MAVEN_DIR / component / "pom.xml"),
        DEPENDENCY_PLUGIN,
        f"-DoutputDirectory={target}",
        "-DincludeScope=runtime",
        f"-DexcludeTransitive={str(not MAVEN_COMPONENTS[component]).lower()}",
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(argv, capture_output=True, text=True)
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        errors = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line]
        reason = errors[0][:400] if errors else f"exit {result.returncode}"
        raise StackError(
            f"download of the {component} jars from Maven Central failed: {reason} (log: {log})"
        )
    (target / ".complete").write_text(_pom_hash(component))
    return True


def classpath(cache: Path, component: str) -> str:
    """Java class path of a fetched component."""
    return str(jars_dir(cache, component) / "*")


def spark_jars(cache: Path) -> list[Path]:
    """Jars to hand to Spark through ``spark.jars``."""
    return sorted(jars_dir(cache, "spark").glob("*.jar"))
