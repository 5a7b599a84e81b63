import pytest

from compose.local import install
from compose.local.process import StackError


def test_a_missing_tool_that_cannot_be_installed_is_named_with_the_install_command(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(install, "which", lambda tool: None)
    monkeypatch.setattr(install.shutil, "which", lambda tool: None)  # no apt-get either
    with pytest.raises(StackError) as info:
        install.ensure_tools(["redis-server", "mariadbd"], tmp_path / "apt.log")
    message = str(info.value)
    assert "mariadb-server" in message and "redis-server" in message
    assert "apt-get install" in message


def test_present_tools_need_no_install(monkeypatch, tmp_path):
    monkeypatch.setattr(install, "which", lambda tool: f"/usr/bin/{tool}")
    assert install.ensure_tools(["java", "redis-server"], tmp_path / "apt.log") == []


def test_a_failed_download_names_the_component_and_the_error(monkeypatch, tmp_path):
    # `false` stands in for an mvn that cannot reach Maven Central.
    monkeypatch.setattr(install, "which", lambda tool: "/bin/false" if tool == "mvn" else None)
    with pytest.raises(StackError, match="download of the gremlin jars from Maven Central failed"):
        install.fetch_jars(tmp_path, "gremlin", tmp_path / "mvn.log")
    assert not install.jars_ready(tmp_path, "gremlin")


def test_fetched_jars_are_reused_until_the_pom_changes(tmp_path):
    target = install.jars_dir(tmp_path, "kafka")
    target.mkdir(parents=True)
    (target / ".complete").write_text(install._pom_hash("kafka"))
    assert install.jars_ready(tmp_path, "kafka")
    assert install.fetch_jars(tmp_path, "kafka", tmp_path / "mvn.log") is False
    (target / ".complete").write_text("an older pom")
    assert not install.jars_ready(tmp_path, "kafka")
