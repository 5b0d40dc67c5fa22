/** Names in the images zip come from clients (archive paths): they cannot point outside the zip's folder. */
import t from 'tap';
import { zipName } from '../../src/jobs/service';

t.test('zip entry names: method folder, image name as .png, no way out', async (t) => {
  t.equal(zipName('fgsm', 'cat.jpg'), 'fgsm/cat.png');
  t.equal(zipName('mi-fgsm+di+ti', 'x/1.png'), 'mi-fgsm+di+ti/x/1.png', 'archive folders are kept');
  t.equal(zipName('fgsm', '../../etc/passwd.png'), 'fgsm/etc/passwd.png');
  t.equal(zipName('fgsm', '/abs/x.webp'), 'fgsm/abs/x.png');
  t.equal(zipName('fgsm', 'c\\..\\d.png'), 'fgsm/c/d.png', 'backslashes are separators too');
  t.equal(zipName('fgsm', '..'), 'fgsm/image.png');
});
