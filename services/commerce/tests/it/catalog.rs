//! Shops and the catalog: review before sale, versioned edits (an order
//! shows what was bought), stock adjustments, who may do what.

use super::*;

#[tokio::test]
async fn products_are_reviewed_before_sale_and_orders_keep_the_version_they_bought() {
    let p = Platform::start().await;
    let seller = user();
    let buyer = user();

    // No shop, no products; a shop opens once.
    let err = p
        .c()
        .create_product(p.req(&seller, Role::Creator, product_body(&[("M", 1_000, 5)])))
        .await
        .expect_err("no shop");
    assert_eq!(reason(&err), "NO_SHOP");
    let open = pb::OpenShopRequest {
        name: "Mugs & co".into(),
        description: String::new(),
    };
    // Sellers are creators or business accounts: a viewer opens nothing.
    let err = p
        .c()
        .open_shop(p.req(&seller, Role::Viewer, open.clone()))
        .await
        .expect_err("a viewer's shop");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("creator or business"), "{err:?}");
    let err = p
        .c()
        .create_product(p.req(&seller, Role::Creator, product_body(&[("M", 1_000, 5)])))
        .await
        .expect_err("still no shop");
    assert_eq!(reason(&err), "NO_SHOP");
    let shop = p
        .c()
        .open_shop(p.req(&seller, Role::Creator, open.clone()))
        .await
        .expect("open")
        .into_inner()
        .shop
        .expect("shop");
    let again = p
        .c()
        .open_shop(p.req(&seller, Role::Creator, open.clone()))
        .await
        .expect("same shop")
        .into_inner()
        .shop
        .expect("shop");
    assert_eq!(again, shop);
    let err = p
        .c()
        .open_shop(p.req(
            &seller,
            Role::Creator,
            pb::OpenShopRequest {
                name: "Another".into(),
                ..open.clone()
            },
        ))
        .await
        .expect_err("second shop");
    assert_eq!(reason(&err), "SHOP_EXISTS");

    let product = p
        .c()
        .create_product(p.req(&seller, Role::Creator, product_body(&[("M", 1_000, 5)])))
        .await
        .expect("create")
        .into_inner()
        .product
        .expect("product");
    assert_eq!(product.status, pb::ProductStatus::PendingReview as i32);

    // Pending: invisible to buyers and not for sale; only admins review.
    let get = pb::GetProductRequest {
        product_id: product.product_id.clone(),
        version: 0,
    };
    let err = p
        .c()
        .get_product(p.req(&buyer, Role::Viewer, get.clone()))
        .await
        .expect_err("pending");
    assert_eq!(err.code(), Code::NotFound);
    let err = p
        .place(&buyer, &shop.shop_id, &[(&product.skus[0].sku_id, 1)])
        .await
        .expect_err("not approved");
    assert_eq!(reason(&err), "NOT_FOR_SALE");
    let review = pb::ReviewProductRequest {
        product_id: product.product_id.clone(),
        expected_version: 1,
        approve: true,
        reason: String::new(),
    };
    let err = p
        .c()
        .review_product(p.req(&seller, Role::Creator, review.clone()))
        .await
        .expect_err("self review");
    assert_eq!(err.code(), Code::PermissionDenied);
    // The admins' review queue: every shop's pending products, to admins only.
    let queue = pb::ListProductsRequest {
        shop_id: String::new(),
        page: None,
        status: pb::ProductStatus::PendingReview as i32,
    };
    let err = p
        .c()
        .list_products(p.req(&seller, Role::Creator, queue.clone()))
        .await
        .expect_err("not an admin");
    assert_eq!(err.code(), Code::PermissionDenied);
    let queued = |list: &pb::ListProductsResponse| {
        list.products
            .iter()
            .any(|x| x.product_id == product.product_id)
    };
    let pending = p
        .c()
        .list_products(p.admin(queue.clone()))
        .await
        .expect("queue")
        .into_inner();
    assert!(queued(&pending), "the new product waits for review");
    let approved = p.approve(&product).await;
    assert_eq!(approved.status, pb::ProductStatus::Approved as i32);
    let pending = p
        .c()
        .list_products(p.admin(queue.clone()))
        .await
        .expect("queue")
        .into_inner();
    assert!(!queued(&pending), "an approved product leaves the queue");
    let err = p
        .c()
        .review_product(p.admin(review.clone()))
        .await
        .expect_err("reviewed already");
    assert_eq!(reason(&err), "NOT_PENDING_REVIEW");

    // Bought at version 1 for 1,000.
    let order = p
        .place(&buyer, &shop.shop_id, &[(&product.skus[0].sku_id, 2)])
        .await
        .expect("place");
    assert_eq!(order.total_cents, 2_000);

    // An edit (new title and price) is version 2, back in review, not for sale.
    let edit = pb::UpdateProductRequest {
        product_id: product.product_id.clone(),
        expected_version: 1,
        title: "Ceramic mug, large".into(),
        description: "Holds more coffee".into(),
        category: "home".into(),
        image_urls: vec!["https://cdn.example/mug2.jpg".into()],
        skus: vec![pb::SkuInput {
            sku_id: product.skus[0].sku_id.clone(),
            name: "L".into(),
            price_cents: 1_400,
            stock: 0,
        }],
    };
    let stranger = user();
    let err = p
        .c()
        .update_product(p.req(&stranger, Role::Creator, edit.clone()))
        .await
        .expect_err("another seller's product");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("product_id"), "{}", err.message());
    let v2 = p
        .c()
        .update_product(p.req(&seller, Role::Creator, edit.clone()))
        .await
        .expect("edit")
        .into_inner()
        .product
        .expect("product");
    assert_eq!(
        (
            v2.version,
            v2.status,
            v2.skus[0].price_cents,
            v2.skus[0].stock
        ),
        (2, pb::ProductStatus::PendingReview as i32, 1_400, 3)
    );
    let err = p
        .c()
        .update_product(p.req(&seller, Role::Creator, edit.clone()))
        .await
        .expect_err("stale version");
    assert_eq!(reason(&err), "VERSION_CONFLICT");
    let err = p
        .place(&buyer, &shop.shop_id, &[(&product.skus[0].sku_id, 1)])
        .await
        .expect_err("edit in review");
    assert_eq!(reason(&err), "NOT_FOR_SALE");

    // The order still shows version 1, and the buyer may read that version.
    let bought = p.order(&order.order_id).await;
    assert_eq!(
        (
            bought.items[0].product_version,
            bought.items[0].title.as_str(),
            bought.items[0].sku_name.as_str(),
            bought.items[0].unit_price_cents
        ),
        (1, "Ceramic mug", "M", 1_000)
    );
    let v1 = p
        .c()
        .get_product(p.req(
            &buyer,
            Role::Viewer,
            pb::GetProductRequest {
                product_id: product.product_id.clone(),
                version: 1,
            },
        ))
        .await
        .expect("the version bought")
        .into_inner()
        .product
        .expect("product");
    assert_eq!(
        (v1.title.as_str(), v1.skus[0].price_cents),
        ("Ceramic mug", 1_000)
    );

    // Approved again: sold at the new price; stock adjusted by the seller only.
    p.approve(&v2).await;
    let adjust = pb::AdjustStockRequest {
        sku_id: product.skus[0].sku_id.clone(),
        delta: 7,
    };
    let err = p
        .c()
        .adjust_stock(p.req(&stranger, Role::Creator, adjust.clone()))
        .await
        .expect_err("stranger");
    assert_eq!(err.code(), Code::PermissionDenied);
    let sku = p
        .c()
        .adjust_stock(p.req(&seller, Role::Creator, adjust.clone()))
        .await
        .expect("adjust")
        .into_inner()
        .sku
        .expect("sku");
    assert_eq!(sku.stock, 10);
    let err = p
        .c()
        .adjust_stock(p.req(
            &seller,
            Role::Creator,
            pb::AdjustStockRequest {
                delta: -11,
                ..adjust.clone()
            },
        ))
        .await
        .expect_err("below zero");
    assert_eq!(reason(&err), "OUT_OF_STOCK");
    let second = p
        .place(&buyer, &shop.shop_id, &[(&product.skus[0].sku_id, 1)])
        .await
        .expect("place at v2");
    assert_eq!(
        (second.total_cents, second.items[0].product_version),
        (1_400, 2)
    );

    // Listing: buyers see approved products; ProductPublished twice.
    let listed = p
        .c()
        .list_products(p.req(
            &buyer,
            Role::Viewer,
            pb::ListProductsRequest {
                shop_id: shop.shop_id.clone(),
                page: None,
                status: 0,
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.products.len(), 1);
    let published: Vec<u32> = p
        .events()
        .await
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::ProductPublished(pp)) => Some(pp.version),
            _ => None,
        })
        .collect();
    assert_eq!(published, [1, 2]);
}

#[tokio::test]
async fn bad_products_are_refused_naming_the_field() {
    let p = Platform::start().await;
    let seller = user();
    p.c()
        .open_shop(p.req(
            &seller,
            Role::Creator,
            pb::OpenShopRequest {
                name: "S".into(),
                description: String::new(),
            },
        ))
        .await
        .expect("shop");
    let ok = product_body(&[("A", 100, 1)]);
    let cases: Vec<(pb::CreateProductRequest, &str)> = vec![
        (product_body(&[("A", 0, 1)]), "skus[0].price_cents"),
        (product_body(&[("A", -5, 1)]), "skus[0].price_cents"),
        (product_body(&[("A", 100, -1)]), "skus[0].stock"),
        (product_body(&[("A", 100, 1), ("", 100, 1)]), "skus[1].name"),
        (product_body(&[]), "skus"),
        (
            pb::CreateProductRequest {
                title: "  ".into(),
                ..ok.clone()
            },
            "title",
        ),
        (
            pb::CreateProductRequest {
                image_urls: vec![],
                ..ok.clone()
            },
            "image_urls",
        ),
        (
            pb::CreateProductRequest {
                image_urls: vec!["ftp://x/y.jpg".into()],
                ..ok.clone()
            },
            "image_urls[0]",
        ),
        (
            pb::CreateProductRequest {
                category: String::new(),
                ..ok.clone()
            },
            "category",
        ),
    ];
    for (body, f) in cases {
        let err = p
            .c()
            .create_product(p.req(&seller, Role::Creator, body))
            .await
            .expect_err(f);
        assert_eq!(
            (err.code(), field(&err)),
            (Code::InvalidArgument, f.to_owned())
        );
    }
    let shop = p
        .c()
        .get_shop(p.req(&seller, Role::Creator, pb::GetShopRequest::default()))
        .await
        .expect("shop")
        .into_inner()
        .shop
        .expect("shop");
    let listed = p
        .c()
        .list_products(p.req(
            &seller,
            Role::Creator,
            pb::ListProductsRequest {
                shop_id: shop.shop_id,
                page: None,
                status: 0,
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.products.is_empty(), "nothing was created");
}
