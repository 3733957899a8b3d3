"""report.html of calculate_metrics and reproduce: self-contained (no network address, every relative link
resolves), and in headless Chromium it renders the table and every image without a console error, sorts the
gallery by a metric gap and zooms the same place of every tile of a row."""
import html.parser
import os
import shutil
import tempfile
import urllib.parse

import cv2
import pytest

from facesr_arch.metrics.html_report import write_metrics_html
from facesr_arch.metrics.report import compute_report, write_report
from facesr_arch.reproduce.runner import assemble, write_outputs
from facesr_arch.reproduce.tables import all_tables

CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--window-size=1200,1600')


@pytest.fixture(scope='module')
def folders(ffhq_small_dir, tmp_path_factory):
    """GT 64 px, LR 16 px, bicubic (3 faces) and blur (the same 3 and a 4th, excluded from the means)."""
    root = tmp_path_factory.mktemp('html')
    dirs = {name: str(root / name) for name in ('gt', 'lq', 'bicubic', 'blur')}
    for folder in dirs.values():
        os.makedirs(folder)
    for i, name in enumerate(sorted(os.listdir(ffhq_small_dir))[:4]):
        gt = cv2.resize(cv2.imread(os.path.join(ffhq_small_dir, name)), (64, 64), interpolation=cv2.INTER_AREA)
        lq = cv2.resize(gt, (16, 16), interpolation=cv2.INTER_AREA)
        cv2.imwrite(os.path.join(dirs['gt'], name), gt)
        cv2.imwrite(os.path.join(dirs['lq'], name), lq)
        cv2.imwrite(os.path.join(dirs['blur'], name), cv2.GaussianBlur(gt, (5, 5), 0.6 + 0.4 * i))
        if i < 3:
            cv2.imwrite(os.path.join(dirs['bicubic'], name), cv2.resize(lq, (64, 64), interpolation=cv2.INTER_CUBIC))
    return dirs


@pytest.fixture(scope='module')
def pages(folders, tmp_path_factory):
    """The calculate_metrics page of the folders, and a reproduce page (MPCNet Table 4 with the x4 column
    measured from the same report)."""
    out = str(tmp_path_factory.mktemp('pages'))
    methods = {'Bicubic': folders['bicubic'], 'Blur': folders['blur']}
    report, timings = compute_report(methods, gt_dir=folders['gt'], metric_names=['psnr_y', 'ssim_y'], progress=False)
    metrics_dir = os.path.join(out, 'metrics')
    write_report(report, timings, metrics_dir)
    write_metrics_html(report, metrics_dir, lq_dir=folders['lq'])

    table = next(t for t in all_tables() if t.paper == 'mpcnet' and t.sweep and t.columns[0].key == 'x4')
    folder = os.path.join(out, 'mpcnet_table4')
    subset = os.path.join(folder, 'metrics', table.protocol, 'x4')
    write_report(report, timings, subset)
    write_metrics_html(report, subset, lq_dir=folders['lq'])
    testset = os.path.dirname(folders['lq'])  # holds lq/ (and gt/)
    measured = {(None, table.ours): {'x4': report['summary']['Blur']['psnr_y']},
                (None, table.input_row): {'x4': report['summary']['Bicubic']['psnr_y']}}
    result = assemble(table, measured, {})
    result.update(measured_on={f'{table.protocol}/x4': {'folder': testset, 'source': folders['gt']}}, errors={},
                  options={'seed': 0, 'device': 'cpu'})
    write_outputs(table, result, folder)
    return {'metrics': os.path.join(metrics_dir, 'report.html'), 'reproduce': os.path.join(folder, 'report.html'),
            'report': report}


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ('src', 'href', 'data-full') and value:
                self.links.append(value)
            if name == 'style' and 'url(' in value:
                self.links.append(value.split('url(')[1].split(')')[0].strip('"\''))


@pytest.mark.parametrize('which', ['metrics', 'reproduce'])
def test_report_html_is_self_contained(pages, which):
    path = pages[which]
    with open(path, encoding='utf-8') as f:
        text = f.read()
    parser = _Links()
    parser.feed(text)
    assert 'http://' not in text and 'https://' not in text and 'link' not in parser.tags
    assert len(parser.links) > 10
    for link in parser.links:
        target = os.path.normpath(os.path.join(os.path.dirname(path), urllib.parse.unquote(link)))
        assert os.path.isfile(target), link
    thumbs = [link for link in parser.links if '/thumbs/' in link]
    folder = os.path.dirname(path)
    assert all(cv2.imread(os.path.join(folder, urllib.parse.unquote(t))).shape == (160, 160, 3) for t in thumbs)


def _browser():
    """A headless Chromium driven by the system chromedriver, or None when either (or selenium) is missing."""
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    driver = shutil.which('chromedriver')
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    if not (chromium and driver):
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + (f'--user-data-dir={tempfile.mkdtemp(prefix="chromium_profile_")}',):
        options.add_argument(flag)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope='module')
def browser():
    driver = _browser()
    if driver is None:
        pytest.skip('report.html browser test: needs Chromium and its driver (Debian packages chromium and '
                    'chromium-driver) and selenium')
    yield driver
    driver.quit()


def _console_errors(driver):
    return [entry for entry in driver.get_log('browser') if entry['level'] == 'SEVERE']


def _loaded_images(driver):
    return driver.execute_script('return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)')


def test_pages_in_chromium_render_sort_and_zoom(browser, pages):
    """The one test that needs the browser (its one named skip where Chromium is absent)."""
    _check_metrics_page(browser, pages)
    _check_reproduce_page(browser, pages)


def _check_metrics_page(browser, pages):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    report = pages['report']
    browser.get('file://' + pages['metrics'])
    rows = browser.find_elements(By.CSS_SELECTOR, '#summary tbody tr')
    assert [r.find_element(By.TAG_NAME, 'td').text for r in rows] == ['Blur', 'Bicubic']  # ranked
    images = _loaded_images(browser)
    assert len(images) == 2 + 4 * 4 - 1 and all(images)  # 2 charts; LQ, Blur and GT of 4 faces, Bicubic of 3
    gallery = browser.find_element(By.ID, 'gallery')
    Select(gallery.find_element(By.CLASS_NAME, 'sort-metric')).select_by_value('psnr_y')
    Select(gallery.find_element(By.CLASS_NAME, 'sort-a')).select_by_value('Blur')
    Select(gallery.find_element(By.CLASS_NAME, 'sort-b')).select_by_value('Bicubic')
    Select(gallery.find_element(By.CLASS_NAME, 'sort-order')).select_by_value('desc')
    gallery.find_element(By.CSS_SELECTOR, 'button.sort').click()
    order = [r.get_attribute('data-stem') for r in gallery.find_elements(By.CSS_SELECTOR, '.rows .row')]
    blur, bicubic = report['per_image']['Blur']['psnr_y'], report['per_image']['Bicubic']['psnr_y']
    expected = sorted(bicubic, key=lambda s: blur[s] - bicubic[s], reverse=True)
    assert order == expected + sorted(set(blur) - set(bicubic))  # no gap for the excluded face: last
    Select(gallery.find_element(By.CLASS_NAME, 'sort-b')).select_by_value('')
    Select(gallery.find_element(By.CLASS_NAME, 'sort-order')).select_by_value('asc')
    gallery.find_element(By.CSS_SELECTOR, 'button.sort').click()
    order = [r.get_attribute('data-stem') for r in gallery.find_elements(By.CSS_SELECTOR, '.rows .row')]
    assert order == sorted(blur, key=blur.get)

    row = gallery.find_elements(By.CSS_SELECTOR, '.rows .row')[1]
    frame = row.find_elements(By.CSS_SELECTOR, '.frame')[2]
    browser.execute_script('arguments[0].scrollIntoView()', frame)
    ActionChains(browser).move_to_element_with_offset(frame, 40, -50).click().perform()  # from the centre
    centre = [float(v) for v in row.get_attribute('data-zoom').split(',')]
    assert centre == pytest.approx([0.75, 0.1875], abs=0.01)  # (80 + 40) / 160, (80 - 50) / 160
    tiles = row.find_elements(By.CSS_SELECTOR, 'figure.tile')
    zooms = [t.find_element(By.CLASS_NAME, 'zoom') for t in tiles]
    boxes = [t.find_element(By.CLASS_NAME, 'box') for t in tiles]
    assert len({z.value_of_css_property('background-position') for z in zooms}) == 1
    assert {z.value_of_css_property('background-size') for z in zooms} == {'400% 400%'}
    assert len({(b.value_of_css_property('left'), b.value_of_css_property('top')) for b in boxes}) == 1
    assert float(boxes[0].value_of_css_property('left').removesuffix('px')) == pytest.approx(100, abs=2)  # (0.75-1/8)*160
    for tile, zoom in zip(tiles, zooms):  # each tile zooms its own full image
        full = urllib.parse.unquote(tile.get_attribute('data-full')).split('/')[-2:]
        assert '/'.join(full) in urllib.parse.unquote(zoom.value_of_css_property('background-image'))
    other = gallery.find_elements(By.CSS_SELECTOR, '.rows .row')[0]
    assert other.get_attribute('data-zoom') is None  # other rows keep their place
    assert _console_errors(browser) == []


def _check_reproduce_page(browser, pages):
    from selenium.webdriver.common.by import By
    browser.get('file://' + pages['reproduce'])
    assert 'MPCNET Table 4' in browser.title
    rows = browser.find_elements(By.CSS_SELECTOR, '#table tbody tr')
    assert len(rows) >= 8 and rows[0].find_elements(By.TAG_NAME, 'td')[1].text == 'paper'
    coloured = browser.find_elements(By.CSS_SELECTOR, '#table tr.difference td.better, #table tr.difference td.worse')
    assert coloured, 'no coloured difference'
    images = _loaded_images(browser)
    assert len(images) == 1 + 4 * 4 - 1 and all(images)  # sweep.png and the x4 gallery
    gallery = browser.find_element(By.CSS_SELECTOR, 'section.gallery')
    gallery.find_elements(By.CSS_SELECTOR, '.frame')[0].click()
    centre = gallery.find_elements(By.CSS_SELECTOR, '.rows .row')[0].get_attribute('data-zoom')
    assert [float(v) for v in centre.split(',')] == pytest.approx([0.5, 0.5], abs=0.01)
    assert _console_errors(browser) == []
