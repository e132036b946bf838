"""The playground in a real headless browser: Debian's Chromium driven by Selenium through the
system's chromedriver (no browser is downloaded). The page loads the served models, generates from a
tiny image model and a tiny text model, inpaints a picture with a mask drawn on the canvas, and finds the
nearest training examples of an uploaded picture."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from genlab.app.loadtest import start_server, stop_server

from cli_helpers import run_cli

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        pytest.fail("CI needs Chromium and chromedriver for the playground test; `make browser` installs them "
                    "(apt-get install chromium chromium-driver)", pytrace=False)
    pytest.skip("no Chromium/chromedriver on this machine: `make browser` installs them (Debian's chromium and "
                "chromium-driver, as root)", allow_module_level=True)


def browser_options():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1400"):
        options.add_argument(flag)
    return options


@pytest.fixture(scope="module")
def page(tmp_path_factory, session_text_file):
    root = tmp_path_factory.mktemp("playground")
    for name, argv in {"vae": ("vae", "--data", "digits", "--set", "hidden=[16]"),
                       "lstm": ("lstm", "--data", f"text:{session_text_file}", "--set", "hidden_size=16",
                                "--set", "embedding_dim=8", "--set", "block_size=16")}.items():
        code, _, err = run_cli("train", *argv, "--steps", "2", "--out", root / name, "--progress", "false")
        assert code == 0, err
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GENLAB_CACHE", str(root / "cache"))  # the search's embeddings stay in the test's folder
        proc, base = start_server([root / "vae", root / "lstm"], ["--token", "pw", "--keep-uploads"])  # the mask, checked below
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=browser_options())
    try:
        driver.get(f"{base}/?token=pw")
        WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model option")) == 2)
        yield driver, root
    finally:
        driver.quit()
        stop_server(proc)


def wait_for_result(driver, count: int):
    WebDriverWait(driver, 60).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .result")) >= count or d.find_element(
            By.ID, "error").is_displayed())
    assert not driver.find_element(By.ID, "error").is_displayed(), driver.find_element(By.ID, "error").text
    return driver.find_elements(By.CSS_SELECTOR, "#results .result")[0]  # the newest is first


def loaded(driver, img) -> int:
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return arguments[0].complete", img))
    return driver.execute_script("return arguments[0].naturalWidth", img)


def test_generate_shows_the_samples_and_their_provenance(page):
    driver, root = page
    assert "vae on digits" in driver.find_element(By.ID, "model-info").text or "digits" in driver.page_source
    num = driver.find_element(By.ID, "num")
    num.clear()
    num.send_keys("4")
    driver.find_element(By.ID, "tags").send_keys("from-the-page")
    driver.find_element(By.ID, "generate").click()
    result = wait_for_result(driver, 1)
    img = result.find_element(By.TAG_NAME, "img")
    assert loaded(driver, img) > 0  # the PNG came through the token-protected file route
    served = list((root / "vae" / "served").glob("*/samples.png"))
    assert len(served) == 1
    assert Image.open(served[0]).size[0] == driver.execute_script("return arguments[0].naturalWidth", img)
    assert '"synthetic": true' in result.find_element(By.TAG_NAME, "details").get_attribute("textContent")


def test_text_model_continues_the_prompt(page):
    driver, _ = page
    Select(driver.find_element(By.ID, "model")).select_by_value("lstm")
    assert driver.find_element(By.ID, "prompt").is_displayed()
    assert not driver.find_element(By.ID, "task-panel").is_displayed()
    driver.find_element(By.ID, "prompt").send_keys("the ")
    tokens = driver.find_element(By.CSS_SELECTOR, "input[data-arg=max_new_tokens]")
    tokens.clear()
    tokens.send_keys("10")
    before = len(driver.find_elements(By.CSS_SELECTOR, "#results .result"))
    driver.find_element(By.ID, "generate").click()
    result = wait_for_result(driver, before + 1)
    texts = result.find_element(By.CSS_SELECTOR, "pre.sample-text").text.split("\n-----\n")
    assert texts and all(t.startswith("the ") for t in texts), texts


def test_inpaint_with_a_mask_drawn_on_the_canvas(page, tmp_path):
    driver, root = page
    Select(driver.find_element(By.ID, "model")).select_by_value("vae")
    picture = tmp_path / "digit.png"
    Image.fromarray((np.random.default_rng(0).random((8, 8)) * 255).astype(np.uint8)).save(picture)
    driver.find_element(By.ID, "task-image").send_keys(str(picture))
    canvas = driver.find_element(By.ID, "mask-canvas")
    WebDriverWait(driver, 10).until(lambda d: canvas.get_attribute("data-picture") == "digit.png")  # drawn under the mask
    ActionChains(driver).move_to_element_with_offset(canvas, -60, 60).click_and_hold().move_by_offset(120, 0) \
        .release().perform()  # a stroke across the lower half
    before = len(driver.find_elements(By.CSS_SELECTOR, "#results .result"))
    driver.find_element(By.ID, "run-task").click()
    result = wait_for_result(driver, before + 1)
    images = result.find_elements(By.TAG_NAME, "img")
    assert sorted(i.get_attribute("alt") for i in images) == ["inpainted.png", "mask.png", "masked.png"]
    assert all(loaded(driver, i) > 0 for i in images)
    mask = next(root.glob("vae/served/*/input-mask.png"))  # the mask the page drew, as the server received it
    drawn = np.asarray(Image.open(mask).convert("L")) > 127
    assert drawn.shape == (8, 8)  # at the picture's own size
    assert 0 < drawn.sum() < drawn.size and drawn[5:7].any() and not drawn[:4].any()  # where the stroke went


def test_interpolate_between_two_uploaded_pictures(page, tmp_path):
    driver, root = page
    Select(driver.find_element(By.ID, "model")).select_by_value("vae")
    assert driver.find_element(By.ID, "interpolate-panel").is_displayed()
    for name, seed in (("a.png", 1), ("b.png", 2)):
        Image.fromarray((np.random.default_rng(seed).random((8, 8)) * 255).astype(np.uint8)).save(tmp_path / name)
    driver.find_element(By.ID, "interp-a").send_keys(str(tmp_path / "a.png"))
    driver.find_element(By.ID, "interp-b").send_keys(str(tmp_path / "b.png"))
    steps = driver.find_element(By.ID, "interp-steps")
    steps.clear()
    steps.send_keys("5")
    before = len(driver.find_elements(By.CSS_SELECTOR, "#results .result"))
    driver.find_element(By.ID, "run-interpolate").click()
    result = wait_for_result(driver, before + 1)
    images = result.find_elements(By.TAG_NAME, "img")
    assert [i.get_attribute("alt") for i in images] == ["interpolation/grid.png"]
    assert loaded(driver, images[0]) == 5 * 65 + 1  # the row of five, 8x8 digits enlarged 8x
    Select(driver.find_element(By.ID, "model")).select_by_value("lstm")
    assert not driver.find_element(By.ID, "interpolate-panel").is_displayed()


def test_stored_samples_are_browsed_with_a_tag_filter(page):
    driver, root = page
    tag = driver.find_element(By.ID, "filter-tag")
    tag.clear()
    tag.send_keys("from-the-page")  # the image and the text generated above (the tag stays in its box)
    driver.find_element(By.ID, "filter-run").send_keys("vae")  # a served model's id: its run
    driver.find_element(By.ID, "list-samples").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#samples tbody tr"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#samples tbody tr")
    assert len(rows) == 1 and "from-the-page" in rows[0].text
    served = next((root / "vae" / "served").glob("*/samples.png"))
    assert served.relative_to(root / "vae").as_posix() in rows[0].text  # the file the first test generated...
    assert str(root) not in rows[0].text  # ...named in its run, never by a path of the server
    tag.clear()
    tag.send_keys("no-such-tag")
    driver.find_element(By.ID, "list-samples").click()
    WebDriverWait(driver, 30).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#samples tbody tr"))


def test_search_shows_the_nearest_training_pictures(page, tmp_path, digits):
    from genlab.data.modalities.image import levels_to_uint8

    driver, _ = page
    Select(driver.find_element(By.ID, "model")).select_by_value("vae")
    picture = tmp_path / "train-123.png"
    Image.fromarray(levels_to_uint8(digits.train.images[123], 17)[0].numpy()).save(picture)
    driver.find_element(By.ID, "search-file").send_keys(str(picture))
    k = driver.find_element(By.ID, "search-k")
    k.clear()
    k.send_keys("3")
    driver.find_element(By.ID, "search").click()
    WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#search-results figure")) == 3
                                    or d.find_element(By.ID, "error").is_displayed())
    assert not driver.find_element(By.ID, "error").is_displayed(), driver.find_element(By.ID, "error").text
    figures = driver.find_elements(By.CSS_SELECTOR, "#search-results figure")
    assert figures[0].find_element(By.TAG_NAME, "figcaption").text == "train:123 d=0.0000"
    assert all(loaded(driver, f.find_element(By.TAG_NAME, "img")) == 8 for f in figures)


def test_the_api_documentation_renders_offline(page):
    """/docs: Swagger UI from the installed files (no CDN; this machine's tests have no internet) renders
    the OpenAPI 3.1 description FastAPI writes, one block per operation. Runs last: it leaves the page."""
    driver, _ = page
    base = driver.current_url.split("/?")[0].rstrip("/")
    driver.get(f"{base}/docs")
    WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 10)
    text = driver.find_element(By.ID, "swagger-ui").text
    assert "/api/models/{model_id}/generate" in text and "Unable to render" not in text
