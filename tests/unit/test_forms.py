"""The forms of group_data values (holdfast/forms.py) at their edges: the last value each
accepts, the first it refuses, and the message a refused value gets (what the user reads
after the file and key). Written against the survivors of `make mutation`."""

import pytest
from pydantic import TypeAdapter, ValidationError

from holdfast import forms


def _refusal(form, value) -> str:
    """The message ``form`` refuses ``value`` with, as loading words it (pydantic's prefix off)."""
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(form).validate_python(value)
    (error,) = raised.value.errors()
    return error["msg"].removeprefix("Value error, ")


def test_a_form_passes_the_value_to_its_check_and_names_itself_when_it_fails():
    seen = []
    form = forms._form("a test value", lambda value: seen.append(value) or value.upper())
    assert TypeAdapter(form).validate_python("ok") == "OK"
    assert seen == ["ok"]
    assert _refusal(form, 5) == "expected a test value"
    assert repr(form.__metadata__[-1]) == "a test value"


@pytest.mark.parametrize("value", [1, 100, 10000])
def test_a_weight_from_1_to_10000_is_accepted(value):
    assert TypeAdapter(forms.Weight).validate_python(value) == value


@pytest.mark.parametrize("value", [0, 10001, True, "100"])
def test_a_weight_outside_1_to_10000_is_refused(value):
    assert _refusal(forms.Weight, value) == "expected a whole number from 1 to 10000 (systemd's default is 100)"


def test_a_network_with_host_bits_is_taken_as_its_network():
    assert TypeAdapter(forms.Network).validate_python("192.0.2.7/24") == "192.0.2.0/24"
    assert TypeAdapter(forms.Network).validate_python("2001:db8::1") == "2001:db8::1/128"
    assert _refusal(forms.Network, "192.0.2.0/33") == "expected an IP address or network such as '192.0.2.0/24'"


@pytest.mark.parametrize("value", [0, 5, "nodelay"])
def test_a_delay_is_a_count_or_nodelay(value):
    assert TypeAdapter(forms.Delay).validate_python(value) == value


@pytest.mark.parametrize("value", [-1, 1.5, True, "none"])
def test_a_delay_that_is_no_count_is_refused(value):
    assert _refusal(forms.Delay, value) == "expected a number of requests (0 or more) or 'nodelay'"


_MEMORY = (
    "expected a size in bytes such as 536870912, '512M' or '2G' (K, M, G, T: powers of 1024), "
    "a percentage of the host's memory such as '20%', or 'infinity'"
)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("0.5%", 0.5), ("1%", 1.0), ("150%", 150.0)],
)
def test_a_cpu_quota_is_any_percentage_above_zero(value, parsed):
    assert TypeAdapter(forms.CpuQuota).validate_python(value) == parsed


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("512", 512), ("2K", 2048), ("100%", "100%"), ("0.5%", "0.5%"), ("infinity", "infinity"), (7, 7)],
)
def test_a_memory_size_is_bytes_a_share_up_to_all_of_it_or_infinity(value, parsed):
    assert TypeAdapter(forms.MemorySize).validate_python(value) == parsed


@pytest.mark.parametrize("value", ["100.5%", "101%", "0%", 0, 1.5, True, "12 apples"])
def test_a_memory_size_beyond_the_host_or_not_a_size_is_refused(value):
    assert _refusal(forms.MemorySize, value) == _MEMORY


def test_a_task_count_without_unit_is_a_number_of_tasks():
    assert TypeAdapter(forms.TaskCount).validate_python("512") == 512
    assert _refusal(forms.TaskCount, "512K").startswith("expected a number of tasks")


def test_a_task_count_of_one_is_allowed_and_none_is_not():
    assert TypeAdapter(forms.TaskCount).validate_python(1) == 1
    assert _refusal(forms.TaskCount, 0).startswith("expected a number of tasks")


@pytest.mark.parametrize("value", ["unix:/run/php/php8.2-fpm.sock", "127.0.0.1:9000", "php.internal:9000", "app:65535", "App:1", "[::1]:9000",
                                   "[::ffff:10.0.0.1]:9000"])
def test_an_upstream_is_a_socket_or_a_host_and_port(value):
    assert TypeAdapter(forms.Upstream).validate_python(value) == value


@pytest.mark.parametrize("value", ["unix:run/php.sock", "php.internal:0", "php.internal:65536", "php_internal:9000", "9000", "::1:9000", "[::1]", "[php]:9000",
                                   "[::1:9000", "::1]:9000"])
def test_an_upstream_without_a_valid_host_or_port_is_refused(value):
    assert _refusal(forms.Upstream, value) == "expected 'unix:/path/to.sock' or 'host:port' ('[ipv6]:port')"


def test_values_listed_twice_are_all_named():
    with pytest.raises(ValueError, match="^listed more than once: a, b$"):
        forms.unique(["b", "a", "c", "a", "b"])


@pytest.mark.parametrize("value", ["!abcdefgh:example.org", "!abcdefgh:matrix.example.org:8448", "!opaqueid"])
def test_a_matrix_room_id_is_accepted(value):
    assert TypeAdapter(forms.MatrixRoom).validate_python(value) == value


@pytest.mark.parametrize("value", ["#shop-alerts:example.org", "abcdefgh:example.org", "!", "!a b:example.org"])
def test_a_room_alias_or_no_room_id_is_refused(value):
    assert _refusal(forms.MatrixRoom, value).startswith("expected a Matrix room ID such as '!abcdefgh:example.org'")
